//go:build e2e && chaos

package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/go-voting-app/voting-app/platform/queue"

	"github.com/go-voting-app/voting-app/platform/backoff"
)

// chaosFault is one fault: what, when it was planned, when its injection started and ended (from
// the load's start), and what the monitor saw of the recovery afterwards.
type chaosFault struct {
	Kind       string
	Target     string // the container(s) it hit
	At         time.Duration
	Start, End time.Duration
	Note       string
	Err        string

	do func(ctx context.Context, f *chaosFault) error
	// service is the one whose containers must be running and healthy again for the fault to
	// count as recovered; replicas how many of them (0: however many there are).
	service  string
	replicas int
	// nextVote: the fault stopped votes from being queued, so the time until the next one is
	// queued is measured too.
	nextVote bool

	Recovery chaosRecovery
}

// crashedConsumer is the consumer name under which the Redis fault reads a batch it never
// acknowledges.
const crashedConsumer = "chaos-crashed-worker"

// faultTimeout bounds each docker command of a fault.
const faultTimeout = 2 * time.Minute

// docker runs a docker command (not compose) for a fault.
func (c *chaos) docker(ctx context.Context, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, faultTimeout)
	defer cancel()
	out, err := run(ctx, c.s.root, nil, "docker", args...)
	if err != nil {
		return "", fmt.Errorf("%w: %s", err, strings.TrimSpace(string(out)))
	}
	return strings.TrimSpace(string(out)), nil
}

func (c *chaos) composeCmd(ctx context.Context, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, faultTimeout)
	defer cancel()
	out, err := c.s.compose(ctx, args...)
	if err != nil {
		return fmt.Errorf("%w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// running returns the IDs of the service's running containers, waiting up to a minute for one.
func (c *chaos) running(ctx context.Context, service string) ([]string, error) {
	deadline := time.Now().Add(time.Minute)
	for {
		ctx, cancel := context.WithTimeout(ctx, faultTimeout)
		out, err := c.s.compose(ctx, "ps", "--quiet", "--status", "running", service)
		cancel()
		if ids := strings.Fields(string(out)); err == nil && len(ids) > 0 {
			return ids, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("no running container of %s for a minute (%v)", service, err)
		}
		if !backoff.Sleep(ctx, 250*time.Millisecond) {
			return nil, ctx.Err()
		}
	}
}

// state is what docker inspect says of a container's process.
type state struct {
	Status       string
	ExitCode     int
	StartedAt    time.Time
	RestartCount int
}

func (c *chaos) inspect(ctx context.Context, id string) (state, error) {
	out, err := c.docker(ctx, "inspect", "--format",
		"{{.State.Status}}|{{.State.ExitCode}}|{{.State.StartedAt}}|{{.RestartCount}}", id)
	if err != nil {
		return state{}, err
	}
	f := strings.Split(out, "|")
	if len(f) != 4 {
		return state{}, fmt.Errorf("docker inspect %s: %q", id, out)
	}
	var st state
	st.Status = f[0]
	st.ExitCode, _ = strconv.Atoi(f[1])
	st.StartedAt, _ = time.Parse(time.RFC3339Nano, f[2])
	st.RestartCount, _ = strconv.Atoi(f[3])
	return st, nil
}

// waitExited waits until the container's process has exited.
func (c *chaos) waitExited(ctx context.Context, id string, within time.Duration) (state, error) {
	deadline := time.Now().Add(within)
	for {
		st, err := c.inspect(ctx, id)
		if err == nil && st.Status != "running" {
			return st, nil
		}
		if time.Now().After(deadline) {
			return st, fmt.Errorf("still %s %s after the signal", st.Status, within)
		}
		if !backoff.Sleep(ctx, 100*time.Millisecond) {
			return st, ctx.Err()
		}
	}
}

// killWorker SIGKILLs one running worker replica, chosen at random, and starts it again. docker
// kill turns the restart policy off until the container's next start (the engine treats it as a
// stop it was asked for), so the test starts it, as an operator or an orchestrator would; the
// container keeps its name and so its consumer name, and finishes its own pending entries first.
func (c *chaos) killWorker(ctx context.Context, f *chaosFault) error {
	ids, err := c.running(ctx, "worker")
	if err != nil {
		return err
	}
	id := ids[c.rng.IntN(len(ids))]
	f.Target = c.name(ctx, id)
	if _, err := c.docker(ctx, "kill", "--signal", "KILL", id); err != nil {
		return err
	}
	st, err := c.waitExited(ctx, id, 30*time.Second)
	if err != nil {
		return err
	}
	if _, err := c.docker(ctx, "start", id); err != nil {
		return err
	}
	f.Note = fmt.Sprintf("exit %d; started again with docker start", st.ExitCode)
	return nil
}

// scaleWorkers sets the number of worker replicas; scaling down stops the extra one with SIGTERM.
func (c *chaos) scaleWorkers(n int) func(ctx context.Context, f *chaosFault) error {
	return func(ctx context.Context, f *chaosFault) error {
		f.Target = "worker"
		return c.composeCmd(ctx, "up", "--detach", "--no-build", "--no-recreate", "--scale", fmt.Sprintf("worker=%d", n))
	}
}

// restartDB restarts Postgres (stop signal SIGINT: fast shutdown, open sessions ended).
func (c *chaos) restartDB(ctx context.Context, f *chaosFault) error {
	f.Target = "db"
	return c.composeCmd(ctx, "restart", "db")
}

// pauseDB freezes Postgres (cgroup freezer): connections stay open and every query hangs.
func (c *chaos) pauseDB(d time.Duration) func(ctx context.Context, f *chaosFault) error {
	return func(ctx context.Context, f *chaosFault) error {
		ids, err := c.running(ctx, "db")
		if err != nil {
			return err
		}
		f.Target = c.name(ctx, ids[0])
		if _, err := c.docker(ctx, "pause", ids[0]); err != nil {
			return err
		}
		backoff.Sleep(ctx, d)
		// Unpaused whatever happened, or the stack cannot be taken down.
		_, err = c.docker(context.WithoutCancel(ctx), "unpause", ids[0])
		return err
	}
}

// restartRedis restarts Redis while it holds votes no worker has acknowledged: the workers are
// frozen for a few seconds first, so votes pile up on the inbox and (moved by hand) undelivered on
// the stream (lag), and a batch is read under a consumer name that then never acknowledges it, as
// a worker that read a batch and died would leave it (pending). After the restart all of them must
// still be there: the append-only file on the volume kept them, and the workers reclaim the dead
// consumer's batch after CLAIM_IDLE.
func (c *chaos) restartRedis(ctx context.Context, f *chaosFault) error {
	workers, err := c.running(ctx, "worker")
	if err != nil {
		return err
	}
	if _, err := c.docker(ctx, append([]string{"pause"}, workers...)...); err != nil {
		return err
	}
	unpause := func() error {
		_, err := c.docker(context.WithoutCancel(ctx), append([]string{"unpause"}, workers...)...)
		return err
	}
	backoff.Sleep(ctx, 3*time.Second)
	// The votes of those seconds wait on the inbox. Move 400 of them onto the stream, as a worker
	// would have just before it froze (the same script, platform/queue's), so the stream holds
	// undelivered entries too.
	if _, err := c.mon.cliArgs(ctx, "EVAL", queue.MoveSource, "3", "votes:stream:inbox", "votes:stream",
		"votes:stream:inbox", "400", "0"); err != nil {
		return errors.Join(fmt.Errorf("moving votes onto the stream by hand: %w", err), unpause())
	}
	// Then one entry more, as the next read of any consumer would: the group's position moves
	// past the batch, so nothing but the pending list remembers it.
	out, err := c.mon.cli(ctx, "XREADGROUP GROUP vote-workers "+crashedConsumer+" COUNT 200 STREAMS votes:stream >",
		"XREADGROUP GROUP vote-workers "+crashedConsumer+" COUNT 1 STREAMS votes:stream >")
	if err != nil {
		return errors.Join(fmt.Errorf("reading a batch as a consumer that dies: %w", err), unpause())
	}
	held := 0
	for line := range strings.Lines(out) {
		if _, err := queue.ParseID(strings.TrimSpace(line)); err == nil {
			held++
		}
	}
	before, err := c.mon.group(ctx)
	if err != nil {
		return errors.Join(fmt.Errorf("reading the stream before the restart: %w", err), unpause())
	}
	f.Target = "redis"
	if err := c.composeCmd(ctx, "restart", "redis"); err != nil {
		return errors.Join(err, unpause())
	}
	var after groupInfo
	deadline := time.Now().Add(time.Minute)
	for {
		if after, err = c.mon.group(ctx); err == nil {
			break
		}
		if time.Now().After(deadline) || !backoff.Sleep(ctx, 100*time.Millisecond) {
			return errors.Join(fmt.Errorf("reading the stream after the restart: %w", err), unpause())
		}
	}
	if err := unpause(); err != nil {
		return err
	}
	f.Note = fmt.Sprintf("workers frozen 3s, %d entries read by a consumer that died; before the restart: %s; after it: %s",
		held, before.backlog(), after.backlog())
	// Redis 7.0 replays a MULTI/EXEC from its append-only file under the ACL of the default user,
	// which may only PING here, and drops it with this message (the worker's trims, which a
	// script propagates as a transaction, and its dead letters with their acknowledgements).
	if logs, err := c.docker(ctx, "logs", "--since", c.t0.Add(f.Start).Format(time.RFC3339Nano), c.mon.redis); err == nil {
		if n := strings.Count(logs, "AOF-loading-client"); n > 0 {
			f.Note += fmt.Sprintf("; Redis refused %d transactions of its append-only file on load (NOPERM)", n)
		}
	}
	// With the workers frozen the group cannot move: after the restart it must be where it was,
	// holding the same unacknowledged entries, and the inbox at least as full (votes arrive on it
	// again as soon as Redis is back). The undelivered ones are proven by the tally.
	if after.lastDelivered != before.lastDelivered || after.pending != before.pending || after.oldestPending != before.oldestPending ||
		after.inbox < before.inbox {
		return fmt.Errorf("the restart changed the consumer group: before %s, after %s; "+
			"entries delivered but not acknowledged that Redis forgets are never delivered again", before.backlog(), after.backlog())
	}
	if held == 0 || !before.lagKnown || before.lag == 0 || before.inbox == 0 {
		return fmt.Errorf("no vote was pending, undelivered and on the inbox when Redis restarted (%s): the fault tested less than it should", before.backlog())
	}
	return nil
}

// stopVote sends the vote service SIGTERM while votes are in flight and waits for it to exit. It
// then watches for a second whether the engine restarts it (restart: unless-stopped); docker
// kill turns the policy off, so it does not, and the test starts the container as `docker compose
// start vote` would.
func (c *chaos) stopVote(ctx context.Context, f *chaosFault) error {
	ids, err := c.running(ctx, "vote")
	if err != nil {
		return err
	}
	id := ids[0]
	f.Target = c.name(ctx, id)
	before, err := c.inspect(ctx, id)
	if err != nil {
		return err
	}
	sent := time.Now()
	if _, err := c.docker(ctx, "kill", "--signal", "TERM", id); err != nil {
		return err
	}
	st, err := c.waitExited(ctx, id, 30*time.Second)
	if err != nil {
		return err
	}
	drained := time.Since(sent)
	if st.ExitCode != 0 {
		return fmt.Errorf("the vote service exited with %d on SIGTERM, want 0 (a clean shutdown)", st.ExitCode)
	}
	// The access log of the process that was stopped, from the signal on: what it answered while
	// it drained.
	answered, failed, err := c.accessLog(ctx, id, sent, time.Now())
	if err != nil {
		return err
	}
	if failed > 0 {
		return fmt.Errorf("the vote service answered %d requests with 5xx while it drained", failed)
	}
	restarted := false
	for range 10 {
		backoff.Sleep(ctx, 100*time.Millisecond)
		if now, err := c.inspect(ctx, id); err == nil && now.StartedAt.After(before.StartedAt) {
			restarted = true
			break
		}
	}
	how := "the engine restarted it (restart policy)"
	if !restarted {
		how = "the engine did not restart it within 1s (docker kill suspends the restart policy); started with docker start"
		if _, err := c.docker(ctx, "start", id); err != nil {
			return err
		}
	}
	f.Note = fmt.Sprintf("exited 0 %.1fs after SIGTERM, having answered %d requests after the signal (none with 5xx); %s",
		drained.Seconds(), answered, how)
	return nil
}

// accessLog counts the requests a container logged as answered between since and until, and how
// many of them with 5xx.
func (c *chaos) accessLog(ctx context.Context, id string, since, until time.Time) (answered, failed int, err error) {
	logs, err := c.docker(ctx, "logs", "--since", since.Format(time.RFC3339Nano), "--until", until.Format(time.RFC3339Nano), id)
	if err != nil {
		return 0, 0, err
	}
	for line := range strings.Lines(logs) {
		var entry struct {
			Msg    string `json:"msg"`
			Status int    `json:"status"`
		}
		if json.Unmarshal([]byte(line), &entry) != nil || entry.Msg != "request" {
			continue
		}
		answered++
		if entry.Status >= 500 {
			failed++
		}
	}
	return answered, failed, nil
}

// name returns a container's name for the report.
func (c *chaos) name(ctx context.Context, id string) string {
	out, err := c.docker(ctx, "inspect", "--format", "{{.Name}}", id)
	if err != nil {
		return id
	}
	return strings.TrimPrefix(out, "/")
}
