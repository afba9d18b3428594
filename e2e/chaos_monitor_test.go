//go:build e2e && chaos

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-voting-app/voting-app/platform/queue"

	"github.com/go-voting-app/voting-app/platform/backoff"

	"github.com/go-voting-app/voting-app/platform/ballot"
)

// chaosMonitor samples, twice a second, the consumer group's position on the vote stream (through
// redis-cli inside the Redis container, as the worker's Redis user: no service image has a shell
// or a client, and the worker's ops port is not published) and the state of every container of
// the project. Recovery times are read from the samples afterwards.
type chaosMonitor struct {
	s        *stack
	redis    string // container ID; a restart keeps it
	password string // the worker's Redis password

	mu      sync.Mutex
	samples []chaosSample
}

type chaosSample struct {
	at       time.Duration // since the load's start
	group    groupInfo
	groupErr string
	services map[string]serviceState // by compose service
	// notReady holds, for each worker container whose latest healthcheck failed (its /readyz
	// said not ready), the checks that failed, as the healthcheck printed them.
	notReady []string
}

// groupInfo is the workers' consumer group on the vote stream: XINFO GROUPS and the summary of
// XPENDING. Stream IDs are the Redis server's clock in milliseconds (the host's clock: containers
// share it), so an ID says when a vote was queued.
type groupInfo struct {
	consumers, pending int64
	lastDelivered      ballot.Position // the newest entry handed to a worker
	oldestPending      ballot.Position // the oldest entry delivered but not acknowledged; zero when none
	// Redis cannot always count: after it loaded the stream from its append-only file it says nil
	// until the group has read to the stream's end.
	entriesRead, lag    int64
	readKnown, lagKnown bool
	// Votes wait on the inbox until a worker moves them onto the stream; inboxSince is when the
	// oldest of them was cast (Unix ms; 0 when the inbox is empty).
	inbox      int64
	inboxSince int64
}

func (g groupInfo) drained() bool { return g.lagKnown && g.lag == 0 && g.pending == 0 && g.inbox == 0 }

// caughtUp reports whether every vote queued up to ms (Unix milliseconds) has been delivered,
// applied and acknowledged: the group has read past ms, and nothing older is pending. The worker
// acknowledges only after its batch committed.
func (g groupInfo) caughtUp(ms int64) bool {
	delivered := g.lastDelivered.Ms >= ms || (g.lagKnown && g.lag == 0)
	moved := g.inbox == 0 || g.inboxSince > ms
	return moved && delivered && (g.pending == 0 || g.oldestPending.Ms > ms)
}

func (g groupInfo) backlog() string {
	count := func(n int64, known bool) string {
		if !known {
			return "unknown"
		}
		return strconv.FormatInt(n, 10)
	}
	return fmt.Sprintf("%d on the inbox, last delivered %s, %d pending, %s entries read, lag %s", g.inbox,
		queue.FormatID(g.lastDelivered), g.pending, count(g.entriesRead, g.readKnown), count(g.lag, g.lagKnown))
}

// serviceState counts a service's containers by state.
type serviceState struct {
	total, running, healthy, paused int
}

// healthy reports whether the service runs want containers (any number when want is 0), all
// running and healthy.
func (s serviceState) ok(want int) bool {
	if want > 0 && s.total != want {
		return false
	}
	return s.total > 0 && s.running == s.total && s.healthy == s.total
}

func newChaosMonitor(t *testing.T, s *stack) *chaosMonitor {
	t.Helper()
	return &chaosMonitor{s: s, redis: s.service(t, "redis")[0].ID, password: s.secret(t, "redis_worker_password")}
}

func (m *chaosMonitor) run(ctx context.Context, t0 time.Time) {
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		sm := chaosSample{}
		g, err := m.group(ctx)
		if err != nil {
			sm.groupErr = err.Error()
		}
		sm.group = g
		sm.services, _ = m.states(ctx)
		sm.notReady = m.workerReadiness(ctx)
		// The time of a sample is when it was complete: a recovery is never dated before it was seen.
		sm.at = time.Since(t0)
		m.mu.Lock()
		m.samples = append(m.samples, sm)
		m.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (m *chaosMonitor) snapshot() []chaosSample {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]chaosSample(nil), m.samples...)
}

// group reads the inbox's and the consumer group's state, every command in one redis-cli. The password goes in
// the environment, never on a command line.
func (m *chaosMonitor) group(ctx context.Context) (groupInfo, error) {
	out, err := m.cli(ctx, "LLEN votes:stream:inbox", "LINDEX votes:stream:inbox 0",
		"XINFO GROUPS votes:stream", "XPENDING votes:stream vote-workers")
	if err != nil {
		return groupInfo{}, err
	}
	// The inbox's length and head come first, one line each (the head empty when there is none).
	length, rest, _ := strings.Cut(out, "\n")
	head, rest, _ := strings.Cut(rest, "\n")
	g, err := parseGroup(rest)
	if err != nil {
		return g, err
	}
	if g.inbox, err = strconv.ParseInt(strings.TrimSpace(length), 10, 64); err != nil {
		return g, fmt.Errorf("LLEN: %q", length)
	}
	var cast struct {
		TS int64 `json:"ts"`
	}
	if g.inbox > 0 && json.Unmarshal([]byte(head), &cast) == nil {
		g.inboxSince = cast.TS
	}
	return g, nil
}

// cli runs commands through redis-cli inside the Redis container, as the worker's Redis user.
func (m *chaosMonitor) cli(ctx context.Context, commands ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", "exec", "--interactive", "--env", "REDISCLI_AUTH",
		m.redis, "redis-cli", "--no-auth-warning", "--user", "worker")
	cmd.Env = append(os.Environ(), "REDISCLI_AUTH="+m.password)
	cmd.Stdin = strings.NewReader(strings.Join(commands, "\n") + "\n")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("redis-cli: %w: %s", err, bytes.TrimSpace(out))
	}
	return string(out), nil
}

// cliArgs runs one command through redis-cli inside the Redis container, as the worker's Redis
// user, its arguments given as they are (a script with newlines and quotes, for instance).
func (m *chaosMonitor) cliArgs(ctx context.Context, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", append([]string{"exec", "--env", "REDISCLI_AUTH",
		m.redis, "redis-cli", "--no-auth-warning", "--user", "worker"}, args...)...)
	cmd.Env = append(os.Environ(), "REDISCLI_AUTH="+m.password)
	out, err := cmd.CombinedOutput()
	if err != nil || bytes.HasPrefix(out, []byte("ERR")) || bytes.HasPrefix(out, []byte("NOPERM")) {
		return "", fmt.Errorf("redis-cli %s: %v: %s", args[0], err, bytes.TrimSpace(out))
	}
	return string(out), nil
}

// parseGroup reads redis-cli's output of XINFO GROUPS (one group) followed by XPENDING's summary:
// one value per line, nil as an empty line.
func parseGroup(out string) (groupInfo, error) {
	lines := strings.Split(out, "\n")
	if len(lines) < 12 || lines[0] != "name" {
		return groupInfo{}, fmt.Errorf("XINFO GROUPS: %q", strings.TrimSpace(out))
	}
	fields := map[string]string{}
	i := 0
	for ; i+1 < len(lines); i += 2 {
		fields[lines[i]] = lines[i+1]
		if lines[i] == "lag" {
			i += 2
			break
		}
	}
	if fields["name"] != "vote-workers" {
		return groupInfo{}, fmt.Errorf("XINFO GROUPS: not the group vote-workers: %q", strings.TrimSpace(out))
	}
	num := func(s string) (int64, bool) {
		n, err := strconv.ParseInt(s, 10, 64)
		return n, err == nil
	}
	var g groupInfo
	var ok1, ok2 bool
	var err error
	g.consumers, ok1 = num(fields["consumers"])
	g.pending, ok2 = num(fields["pending"])
	if g.lastDelivered, err = queue.ParseID(fields["last-delivered-id"]); err != nil || !ok1 || !ok2 {
		return g, fmt.Errorf("XINFO GROUPS: %q", strings.TrimSpace(out))
	}
	g.entriesRead, g.readKnown = num(fields["entries-read"])
	g.lag, g.lagKnown = num(fields["lag"])
	// XPENDING: count, oldest, newest (nil, nil when nothing is pending), then the consumers.
	if i+1 >= len(lines) {
		return g, fmt.Errorf("XPENDING: no answer in %q", strings.TrimSpace(out))
	}
	if n, ok := num(lines[i]); !ok || n != g.pending {
		// Not an error of the stream: the two reads are not atomic, so entries may move between them.
		g.pending = n
	}
	if g.pending > 0 {
		if g.oldestPending, err = queue.ParseID(lines[i+1]); err != nil {
			return g, fmt.Errorf("XPENDING: %q", strings.Join(lines[i:], " "))
		}
	}
	return g, nil
}

// workerReadiness reads the latest healthcheck of every worker container: the binary's
// healthcheck subcommand prints each /readyz check, so a failed one says why.
func (m *chaosMonitor) workerReadiness(ctx context.Context) []string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	ids, err := run(ctx, m.s.root, nil, "docker", "ps", "--quiet", "--no-trunc",
		"--filter", "label=com.docker.compose.project="+m.s.project,
		"--filter", "label=com.docker.compose.service=worker")
	if err != nil || len(bytes.TrimSpace(ids)) == 0 {
		return nil
	}
	args := append([]string{"inspect", "--format", "{{json .State.Health}}"}, strings.Fields(string(ids))...)
	out, err := run(ctx, m.s.root, nil, "docker", args...)
	if err != nil {
		return nil
	}
	var reasons []string
	for line := range strings.Lines(string(out)) {
		var h struct {
			Log []struct {
				ExitCode int
				Output   string
			}
		}
		if json.Unmarshal([]byte(line), &h) != nil || len(h.Log) == 0 || h.Log[len(h.Log)-1].ExitCode == 0 {
			continue
		}
		var failed []string
		for l := range strings.Lines(h.Log[len(h.Log)-1].Output) {
			if l = strings.TrimSpace(l); l != "" && !strings.HasSuffix(l, ": ok") && !strings.HasPrefix(l, "healthcheck:") {
				failed = append(failed, l)
			}
		}
		if len(failed) == 0 {
			failed = []string{strings.TrimSpace(h.Log[len(h.Log)-1].Output)}
		}
		reasons = append(reasons, strings.Join(failed, "; "))
	}
	return reasons
}

// states counts the project's containers per service and state.
func (m *chaosMonitor) states(ctx context.Context) (map[string]serviceState, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out, err := run(ctx, m.s.root, nil, "docker", "ps", "--all", "--no-trunc",
		"--filter", "label=com.docker.compose.project="+m.s.project,
		"--format", `{{.Label "com.docker.compose.service"}}|{{.State}}|{{.Status}}`)
	if err != nil {
		return nil, err
	}
	states := map[string]serviceState{}
	for line := range strings.Lines(string(out)) {
		f := strings.SplitN(strings.TrimSpace(line), "|", 3)
		if len(f) != 3 {
			continue
		}
		st := states[f[0]]
		st.total++
		switch f[1] {
		case "running":
			st.running++
			if strings.Contains(f[2], "(healthy)") {
				st.healthy++
			}
		case "paused":
			st.paused++
		}
		states[f[0]] = st
	}
	return states, nil
}

// chaosRecovery is what the samples say of the recovery after one fault, each from the end of its
// injection; -1 when it was not seen (or does not apply).
type chaosRecovery struct {
	// Healthy: the fault's service runs again with every container healthy (Docker's healthcheck
	// runs every 5 s, so this is coarse).
	Healthy time.Duration
	// NextVote: a vote queued after the fault ended has reached a worker.
	NextVote time.Duration
	// CaughtUp: every vote queued before the fault ended has been applied and acknowledged.
	CaughtUp time.Duration
}

func (c *chaos) measureRecoveries() {
	samples := c.mon.snapshot()
	for _, f := range c.faults {
		f.Recovery = recoveryAfter(samples, f, c.t0)
	}
}

func recoveryAfter(samples []chaosSample, f *chaosFault, t0 time.Time) chaosRecovery {
	r := chaosRecovery{Healthy: -1, NextVote: -1, CaughtUp: -1}
	mark := t0.Add(f.End).UnixMilli() // the stream ID of a vote queued when the fault ended
	for _, sm := range samples {
		if sm.at < f.End {
			continue
		}
		if r.Healthy < 0 && sm.services[f.service].ok(f.replicas) {
			r.Healthy = sm.at - f.End
		}
		if sm.groupErr != "" {
			continue
		}
		if f.nextVote && r.NextVote < 0 && sm.group.lastDelivered.Ms > mark {
			r.NextVote = sm.at - f.End
		}
		if r.CaughtUp < 0 && sm.group.caughtUp(mark) {
			r.CaughtUp = sm.at - f.End
		}
	}
	return r
}

// finalRecovery is the wait after the load: everything healthy, then the stream drained.
type finalRecovery struct {
	Healthy, Drained time.Duration // from the end of the load
	Group            groupInfo
}

// recoverAll waits until every service is healthy (one worker) and the stream is drained: nothing
// undelivered, nothing pending.
func (c *chaos) recoverAll(ctx context.Context) {
	c.t.Helper()
	want := map[string]int{"vote": 1, "worker": 1, "result": 1, "analyzer": 1, "db": 1, "redis": 1}
	deadline := time.Now().Add(3 * time.Minute)
	var last map[string]serviceState
	for {
		states, err := c.mon.states(ctx)
		if err == nil {
			last = states
			ok := true
			for svc, n := range want {
				ok = ok && states[svc].ok(n)
			}
			if ok {
				break
			}
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("services not all running and healthy 3 minutes after the load: %v", last)
		}
		backoff.Sleep(ctx, 250*time.Millisecond)
	}
	c.final.Healthy = c.since() - c.loadEnd
	deadline = time.Now().Add(3 * time.Minute)
	for {
		g, err := c.mon.group(ctx)
		if err == nil {
			c.final.Group = g
			if g.drained() {
				break
			}
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("the stream is not drained 3 minutes after the load: %s (%v)", c.final.Group.backlog(), err)
		}
		backoff.Sleep(ctx, 250*time.Millisecond)
	}
	c.final.Drained = c.since() - c.loadEnd
	c.durations = append(c.durations, chaosDuration{"recovery after the load (healthy, stream drained)", c.final.Drained})
}
