//go:build e2e && chaos

package e2e

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-voting-app/voting-app/platform/backoff"
)

// TestChaos runs the compose stack under a steady, open-loop stream of votes from the load tool
// and breaks it while the votes flow: the worker is SIGKILLed five times at random moments and
// runs as two replicas for a while, Postgres is restarted twice and frozen once, Redis is
// restarted once with un-acknowledged votes on its stream, the vote service is stopped with
// SIGTERM while requests are in flight, and a privileged client writes poison entries of every
// kind (with a database constraint the decoder does not know). Every poison entry must end on the
// dead-letter stream with its reason, and nothing else. Once everything has recovered, every voter's stored vote
// must be the last vote the load tool saw accepted; votes whose outcome the tool could not know
// (a 503, a broken connection) may have gone either way, and the check says how many there were.
// The result service's tally must equal the database's. It writes a report of the faults, the
// recovery after each, the load and the tally comparison to out/chaos-report.md.
//
// It needs the build tags e2e and chaos (it uses the compose test's helpers) and the images:
//
//	make chaos
//	E2E_ENV_FILE=deploy/compose/offline.env go test -tags e2e,chaos -run TestChaos -count=1 -v -timeout 20m ./e2e/
//
// Environment (besides E2E_ENV_FILE and E2E_KEEP of the compose test):
//
//	CHAOS_VOTES, CHAOS_VOTERS   the workload [100000 votes from 20000 voters]
//	CHAOS_RATE                  votes per second, on a fixed schedule [500]
//	CHAOS_SEED                  seed of the fault times and the vote plans [random; the report shows it]
//	CHAOS_PROJECT               compose project name [voting-app-chaos]
//	CHAOS_REPORT                where the report goes [out/chaos-report.md]; the load tool's reports,
//	                            expectations and the monitor's samples go next to it, in out/chaos/
//	LOADGEN_IMAGE               [voting-app/loadgen:dev, or IMAGE_PREFIX/loadgen:TAG]
//
// The load goes to the vote service by its name on the compose network, from a load tool
// container, not through the published port: Docker's port proxy on the host accepts a
// connection even while the service behind it is not listening, and then drops it, which turns a
// vote that was certainly not applied into one of unknown outcome.
func TestChaos(t *testing.T) {
	cfg := chaosConfigFromEnv(t)
	began := time.Now()
	s := startStack(t, cfg.project, 1)
	c := newChaos(t, s, cfg)
	c.durations = append(c.durations, chaosDuration{"stack up and healthy", time.Since(began)})
	// The report is written however the test ends, before the stack is taken down.
	t.Cleanup(func() {
		c.durations = append(c.durations, chaosDuration{"whole test, until the report", time.Since(began)})
		c.writeReport()
	})
	t.Logf("chaos: %d votes from %d voters at %g/s (about %s), seed %d",
		cfg.votes, cfg.voters, cfg.rate, c.planned.Round(time.Second), cfg.seed)

	ctx, cancel := context.WithCancel(t.Context())
	var bg sync.WaitGroup
	t.Cleanup(func() {
		cancel()
		bg.Wait()
	})
	c.t0 = time.Now()
	bg.Go(func() { c.mon.run(ctx, c.t0) })
	injected := make(chan struct{})
	bg.Go(func() {
		defer close(injected)
		c.inject(ctx, c.background())
	})

	for i := range c.segments {
		c.runSegment(ctx, i)
	}
	c.loadEnd = c.since()
	c.durations = append(c.durations, chaosDuration{"load (three runs of the load tool)", c.loadEnd})
	select {
	case <-injected:
	case <-time.After(5 * time.Minute):
		t.Fatal("the faults scheduled during the load were not all injected 5 minutes after it ended")
	}

	c.recoverAll(ctx)
	c.verify(ctx)
}

type chaosConfig struct {
	votes, voters int
	rate          float64
	seed          uint64
	project       string
	report        string
	loadgenImage  string
}

func chaosConfigFromEnv(t *testing.T) chaosConfig {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	c := chaosConfig{
		votes:   chaosInt(t, "CHAOS_VOTES", 100_000),
		voters:  chaosInt(t, "CHAOS_VOTERS", 20_000),
		rate:    float64(chaosInt(t, "CHAOS_RATE", 500)),
		project: envOr("CHAOS_PROJECT", "voting-app-chaos"),
		report:  envOr("CHAOS_REPORT", filepath.Join(root, "out", "chaos-report.md")),
		loadgenImage: envOr("LOADGEN_IMAGE",
			envOr("IMAGE_PREFIX", "voting-app")+"/loadgen:"+envOr("TAG", "dev")),
	}
	c.seed = rand.Uint64()>>1 | 1
	if v := os.Getenv("CHAOS_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 63)
		if err != nil || n == 0 {
			t.Fatalf("CHAOS_SEED=%q: want a positive number", v)
		}
		c.seed = n
	}
	// Each of the three runs needs voters and at least as many votes as voters.
	if c.voters < 30 || c.votes < c.voters {
		t.Fatalf("CHAOS_VOTERS=%d, CHAOS_VOTES=%d: want at least 30 voters and as many votes", c.voters, c.votes)
	}
	return c
}

func chaosInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive number", name, v)
	}
	return n
}

// chaos is one run of the test: the stack, the monitor, the faults and what the load tool found.
type chaos struct {
	t   *testing.T
	s   *stack
	cfg chaosConfig
	rng *rand.Rand
	mon *chaosMonitor
	out string // directory for the load tool's files and the samples, next to the report
	// mount is where the load tool container writes (it runs as 65532, the test as root).
	mount string

	planned  time.Duration // votes / rate
	segments []*chaosSegment

	t0      time.Time // the load's start: every time in the report counts from here
	loadEnd time.Duration

	faultMu sync.Mutex // one fault at a time, so each is injected whole and timed on its own
	mu      sync.Mutex // guards faults
	faults  []*chaosFault

	durations []chaosDuration
	poisoned  []poisonEntry // written by the poison phase, checked after the load
	tally     tallyCheck
	totals    totalsCheck
	final     finalRecovery
}

type chaosDuration struct {
	what string
	d    time.Duration
}

// chaosSegment is one run of the load tool. The faults that change what the vote service
// answers (Redis, the vote service itself) each get a run of their own, so each run's error
// breakdown shows exactly what its fault cost the voters. Faults behind the queue (the worker,
// Postgres) must cost the voters nothing and land in every run.
type chaosSegment struct {
	name          string
	votes, voters int
	fault         *chaosFault // injected 40% into the run; nil for none
	// allowedHTTP says which HTTP error statuses the voters may see in this run.
	allowedHTTP func(kind string) bool
	rule        string // allowedHTTP in words, for the report

	start, end time.Duration
	report     *loadReport
	expect     *loadExpectation
}

func newChaos(t *testing.T, s *stack, cfg chaosConfig) *chaos {
	t.Helper()
	out := filepath.Join(filepath.Dir(cfg.report), "chaos")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	mount := t.TempDir()
	if err := os.Chmod(mount, 0o777); err != nil {
		t.Fatal(err)
	}
	c := &chaos{
		t: t, s: s, cfg: cfg, out: out, mount: mount,
		rng:     rand.New(rand.NewPCG(cfg.seed, 0x63686173)),
		planned: time.Duration(float64(cfg.votes) / cfg.rate * float64(time.Second)),
		mon:     newChaosMonitor(t, s),
	}
	// Half the votes with the back-end faults only, a quarter around the Redis restart, a quarter
	// around the vote service's stop.
	v1, n1 := cfg.votes/2, cfg.voters/2
	v2, n2 := cfg.votes/4, cfg.voters/4
	c.segments = []*chaosSegment{
		{name: "worker and database faults", votes: v1, voters: n1,
			allowedHTTP: func(string) bool { return false },
			rule:        "no HTTP error at all: the vote service does not depend on the worker or Postgres"},
		{name: "Redis restart", votes: v2, voters: n2,
			fault:       &chaosFault{Kind: "Redis restart, workers frozen before it", do: c.restartRedis, service: "redis", nextVote: true},
			allowedHTTP: func(kind string) bool { return kind == "http_503" },
			rule:        "503 (with Retry-After) while Redis is away, nothing else"},
		{name: "vote service SIGTERM", votes: cfg.votes - v1 - v2, voters: cfg.voters - n1 - n2,
			fault:       &chaosFault{Kind: "vote service SIGTERM", do: c.stopVote, service: "vote", nextVote: true},
			allowedHTTP: func(string) bool { return false },
			rule: "no HTTP error at all. Requests in flight at SIGTERM are answered. Until the restarted service " +
				"listens, a new connection is refused while the old process drains, and fails (no route to the " +
				"stopped container's address, or its name not found) while the container is down: rejected, never " +
				"applied. A vote written on a kept-alive connection in the instant the draining server closes it as " +
				"idle sees the connection close: its outcome is unknown (the server never read it, but the client " +
				"cannot tell), and its voter counts among the uncertain ones"},
	}
	return c
}

// since is the time since the load started.
func (c *chaos) since() time.Duration { return time.Since(c.t0) }

// background is the schedule of the faults that do not belong to one run: five worker kills at
// random moments, Postgres twice restarted and once frozen, two worker replicas for a while, and
// the poison phase (entries of every kind the worker must set aside).
func (c *chaos) background() []*chaosFault {
	d := c.planned
	at := func(frac float64) time.Duration {
		jitter := (c.rng.Float64() - 0.5) * 0.04 // ±2% of the load
		return time.Duration((frac + jitter) * float64(d))
	}
	fs := []*chaosFault{
		{Kind: "Postgres restart", At: at(0.12), do: c.restartDB, service: "db"},
		{Kind: "worker scaled to 2 replicas", At: at(0.20), do: c.scaleWorkers(2), service: "worker", replicas: 2},
		{Kind: "Postgres frozen (docker pause) for 8s", At: at(0.30), do: c.pauseDB(8 * time.Second), service: "db"},
		{Kind: "Postgres restart", At: at(0.42), do: c.restartDB, service: "db"},
		{Kind: "poison entries on the stream", At: at(0.55), do: c.poison, service: "worker"},
		{Kind: "worker scaled back to 1 replica", At: at(0.70), do: c.scaleWorkers(1), service: "worker", replicas: 1},
	}
	// Kills at random moments between 5% and 95% of the load, at least 4% of it apart, so each
	// restart can be seen on its own.
	var kills []time.Duration
	for len(kills) < 5 {
		k := time.Duration((0.05 + 0.9*c.rng.Float64()) * float64(d))
		if !slices.ContainsFunc(kills, func(o time.Duration) bool { return (k - o).Abs() < d/25 }) {
			kills = append(kills, k)
		}
	}
	for _, k := range kills {
		fs = append(fs, &chaosFault{Kind: "worker SIGKILL", At: k, do: c.killWorker, service: "worker"})
	}
	slices.SortFunc(fs, func(a, b *chaosFault) int { return cmp.Compare(a.At, b.At) })
	return fs
}

// inject runs the faults at their times, one at a time.
func (c *chaos) inject(ctx context.Context, faults []*chaosFault) {
	for _, f := range faults {
		if !backoff.Sleep(ctx, time.Until(c.t0.Add(f.At))) {
			return
		}
		c.injectNow(ctx, f)
	}
}

// injectNow injects one fault as soon as no other is under way, and records it.
func (c *chaos) injectNow(ctx context.Context, f *chaosFault) {
	c.faultMu.Lock()
	defer c.faultMu.Unlock()
	f.Start = c.since()
	if err := f.do(ctx, f); err != nil {
		f.Err = err.Error()
		c.t.Errorf("fault %q at %s: %v", f.Kind, f.Start.Round(100*time.Millisecond), err)
	}
	f.End = c.since()
	c.t.Logf("chaos: %7.1fs  %s %s (%.1fs) %s", f.Start.Seconds(), f.Kind, f.Target, (f.End - f.Start).Seconds(), f.Note)
	c.mu.Lock()
	c.faults = append(c.faults, f)
	c.mu.Unlock()
}

// runSegment casts one run's votes and injects its fault 40% into it.
func (c *chaos) runSegment(ctx context.Context, i int) {
	seg := c.segments[i]
	seg.start = c.since()
	name := fmt.Sprintf("seg%d", i+1)
	var wg sync.WaitGroup
	if seg.fault != nil {
		planned := time.Duration(float64(seg.votes) / c.cfg.rate * float64(time.Second))
		wg.Go(func() {
			if backoff.Sleep(ctx, planned*4/10) {
				seg.fault.At = c.since()
				c.injectNow(ctx, seg.fault)
			}
		})
	}
	seg.report, seg.expect = c.runLoad(ctx, name, seg, uint64(i+1))
	wg.Wait()
	seg.end = c.since()
	if seg.report == nil {
		c.t.FailNow()
	}
	r := seg.report
	c.t.Logf("chaos: run %d (%s): %d sent, %d accepted, %d rejected, %d unknown; errors %v",
		i+1, seg.name, r.Sent, r.Accepted, r.Rejected, r.Unknown, r.Errors)
	for kind := range r.Errors {
		if strings.HasPrefix(kind, "http_") && !seg.allowedHTTP(kind) {
			c.t.Errorf("run %d (%s): voters got %s %d times; allowed: %s", i+1, seg.name, kind, r.Errors[kind], seg.rule)
		}
	}
}
