package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-voting-app/voting-app/testkit/servers"
)

// config is the whole run, read from the command line once.
type config struct {
	root   string // the repository root: go.work, docs/, out/
	report string // the markdown report; the charts go beside it
	work   string // raw results, logs, binaries, profiles
	only   []string
	from   string // render the report from this results file instead of measuring

	voteDuration    time.Duration
	voteTrials      int
	voteConcurrency int

	drainEntries int
	drainVoters  int
	drainDurable bool

	e2eRate     float64
	e2eDuration time.Duration

	fanOutStreams  int
	fanOutDuration time.Duration

	composeEnv string // --env-file of the compose stack ("" for none)
	tag        string // image tag
	microCount int
	microTime  string
}

// sections in the order they run: the cheap, noisy-tolerant ones first.
var sections = []string{"micro", "profile", "vote", "drain", "e2e", "fanout", "footprint"}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	only := fs.String("only", strings.Join(sections, ","), "comma-separated sections to run: "+strings.Join(sections, ", "))
	fs.StringVar(&c.root, "root", "", "repository root (default: the directory holding go.work, from the working directory up)")
	fs.StringVar(&c.report, "report", "docs/bench.md", "the report to write, relative to the root; charts go beside it as bench-*.svg")
	fs.StringVar(&c.work, "work", "out/bench", "directory for raw results, logs, binaries and profiles, relative to the root")
	fs.StringVar(&c.from, "from", "", "render the report from this results.json instead of measuring")
	fs.DurationVar(&c.voteDuration, "vote-duration", 8*time.Second, "benchmark 1: length of each trial")
	fs.IntVar(&c.voteTrials, "vote-trials", 3, "benchmark 1: trials per server, interleaved; the report gives medians")
	fs.IntVar(&c.voteConcurrency, "vote-concurrency", 32, "benchmark 1: requests in flight (closed loop)")
	fs.IntVar(&c.drainEntries, "drain-entries", 1_000_000, "benchmark 2: stream entries to preload")
	fs.IntVar(&c.drainVoters, "drain-voters", 200_000, "benchmark 2: distinct voters among them")
	fs.BoolVar(&c.drainDurable, "drain-durable", true, "benchmark 2: also run with fsync and synchronous_commit on")
	fs.Float64Var(&c.e2eRate, "e2e-rate", 1000, "benchmarks 3 and 4: votes per second (open loop)")
	fs.DurationVar(&c.e2eDuration, "e2e-duration", 30*time.Second, "benchmark 3: length of each run")
	fs.IntVar(&c.fanOutStreams, "fanout-streams", 5000, "benchmark 4: SSE streams on one result instance")
	fs.DurationVar(&c.fanOutDuration, "fanout-duration", 30*time.Second, "benchmark 4: how long votes flow while the streams are open")
	fs.StringVar(&c.composeEnv, "compose-env", "", "benchmark 5: --env-file for docker compose (deploy/compose/offline.env without a registry)")
	fs.StringVar(&c.tag, "tag", "dev", "benchmark 5: tag of the images make images built")
	fs.IntVar(&c.microCount, "micro-count", 5, "benchmark 6: -count of go test -bench; the report gives medians")
	fs.StringVar(&c.microTime, "micro-benchtime", "300ms", "benchmark 6: -benchtime of go test -bench")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q (flags only; see -help)", fs.Arg(0))
	}
	for _, s := range strings.Split(*only, ",") {
		s = strings.TrimSpace(s)
		if !slices.Contains(sections, s) {
			return c, fmt.Errorf("-only: unknown section %q (want %s)", s, strings.Join(sections, ", "))
		}
		c.only = append(c.only, s)
	}
	var bad []string
	check := func(ok bool, msg string) {
		if !ok {
			bad = append(bad, msg)
		}
	}
	check(c.voteDuration >= time.Second, "-vote-duration: at least 1s")
	check(c.voteTrials >= 1, "-vote-trials: at least 1")
	check(c.voteConcurrency >= 1, "-vote-concurrency: at least 1")
	check(c.drainEntries >= 1000 && c.drainVoters >= 1 && c.drainVoters <= c.drainEntries, "-drain-entries ≥ 1000 and 1 ≤ -drain-voters ≤ -drain-entries")
	check(c.e2eRate > 0 && c.e2eRate <= 20000, "-e2e-rate: 1 to 20000 votes/s")
	check(c.e2eDuration >= time.Second, "-e2e-duration: at least 1s")
	check(c.fanOutStreams >= 1 && c.fanOutStreams <= 9000, "-fanout-streams: 1 to 9000 (the open-files limit is shared)")
	check(c.fanOutDuration >= time.Second, "-fanout-duration: at least 1s")
	check(c.microCount >= 1, "-micro-count: at least 1")
	if len(bad) > 0 {
		return c, fmt.Errorf("flags: %s", strings.Join(bad, "; "))
	}
	return c, nil
}

func (c config) runs(section string) bool { return slices.Contains(c.only, section) }

// run is the whole program: measure (or read a previous run), then write the report.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 1 && args[1] == streamsCommand {
		return runStreams(ctx, args[2:], stdout)
	}
	cfg, err := parseFlags(args[1:], stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	if cfg.root == "" {
		if cfg.root, err = findRoot(); err != nil {
			return err
		}
	}
	work := inRoot(cfg.root, cfg.work)
	logf := func(format string, a ...any) { fmt.Fprintf(stderr, "bench: "+format+"\n", a...) }

	var res *results
	if cfg.from != "" {
		b, err := os.ReadFile(cfg.from)
		if err != nil {
			return err
		}
		res = &results{}
		if err := json.Unmarshal(b, res); err != nil {
			return fmt.Errorf("-from: %w", err)
		}
	} else {
		if err := os.MkdirAll(work, 0o755); err != nil {
			return err
		}
		res, err = measure(ctx, cfg, work, args[1:], logf)
		if err != nil {
			return err
		}
		b, _ := json.MarshalIndent(res, "", "  ")
		if err := os.WriteFile(filepath.Join(work, "results.json"), append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	res.ResultMemLimit = composeMemLimit(filepath.Join(cfg.root, "docker-compose.yml"), "result")
	path := inRoot(cfg.root, cfg.report)
	if err := writeReport(res, path); err != nil {
		return err
	}
	logf("wrote %s (%s)", cfg.report, time.Duration(res.Seconds*float64(time.Second)).Round(time.Second))
	if len(res.Failures) > 0 {
		return fmt.Errorf("%d section(s) failed: %s (the report says so)", len(res.Failures), strings.Join(sortedKeys(res.Failures), ", "))
	}
	return nil
}

// measure builds what it needs and runs the chosen sections. A section that fails is recorded and
// the others still run, so one broken service does not cost the whole report.
func measure(ctx context.Context, cfg config, work string, flags []string, logf func(string, ...any)) (*results, error) {
	start := time.Now()
	res := &results{Started: start.UTC(), Flags: flags, Load: map[string]float64{}, Failures: map[string]string{}}
	res.Revision = gitRevision(cfg.root)
	res.Host = hostInfo(ctx)
	logf("revision %s, load average %.2f", res.Revision, loadAverage())

	bins, err := buildBinaries(ctx, cfg.root, filepath.Join(work, "bin"), logf)
	if err != nil {
		return nil, err
	}
	env := &bench{cfg: cfg, work: work, bins: bins, logf: logf, res: res,
		footprint: &footprintResult{Idle: map[string]int64{}, IdleSplit: map[string]resident{}, Ready: map[string]float64{}, Loaded: map[string]map[string]int64{}}}
	runners := map[string]func(context.Context) error{
		"micro":     env.micro,
		"profile":   env.profile,
		"vote":      env.vote,
		"drain":     env.drain,
		"e2e":       env.e2e,
		"fanout":    env.fanOut,
		"footprint": env.compose,
	}
	for _, s := range sections {
		if !cfg.runs(s) {
			continue
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		res.Load[s] = loadAverage()
		logf("%s: starting (load average %.2f)", s, res.Load[s])
		t := time.Now()
		if err := runners[s](ctx); err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			logf("%s: FAILED: %v", s, err)
			res.Failures[s] = err.Error()
			continue
		}
		logf("%s: done in %s", s, time.Since(t).Round(time.Second))
	}
	if len(env.footprint.Idle) > 0 || env.footprint.Healthy != nil {
		res.Footprint = env.footprint
	}
	res.Seconds = time.Since(start).Seconds()
	return res, nil
}

// bench is the state the sections share.
type bench struct {
	cfg       config
	work      string
	bins      binaries
	logf      func(string, ...any)
	res       *results
	footprint *footprintResult
}

// binaries are the programs the sections run, built from the workspace.
type binaries struct {
	dir                                     string
	vote, worker, result, analyzer, loadgen string
	ceiling, self                           string
}

// buildBinaries builds the services and the load tool from the workspace as the images build them
// (no race detector, CGO off), and this program's ceiling server.
func buildBinaries(ctx context.Context, root, dir string, logf func(string, ...any)) (binaries, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return binaries{}, err
	}
	start := time.Now()
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", dir+string(filepath.Separator),
		"./vote", "./worker", "./result", "./analyzer", "./loadgen")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return binaries{}, fmt.Errorf("building the services from the workspace: %v\n%s", err, out)
	}
	// The ceiling lives in this module, which the workspace may not list yet: build it on its own.
	cmd = exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", filepath.Join(dir, "ceiling"), "./ceiling")
	cmd.Dir = filepath.Join(root, "bench")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		return binaries{}, fmt.Errorf("building the ceiling server: %v\n%s", err, out)
	}
	self, err := os.Executable()
	if err != nil {
		return binaries{}, err
	}
	logf("built the services, the load tool and the ceiling in %s", time.Since(start).Round(100*time.Millisecond))
	b := binaries{dir: dir, ceiling: filepath.Join(dir, "ceiling"), self: self}
	b.vote, b.worker, b.result, b.analyzer, b.loadgen = filepath.Join(dir, "vote"), filepath.Join(dir, "worker"),
		filepath.Join(dir, "result"), filepath.Join(dir, "analyzer"), filepath.Join(dir, "loadgen")
	return b, nil
}

// composeMemLimit reads a service's mem_limit from a compose file: the first "mem_limit:" line
// inside the service's block (two-space indent under services). "" when there is none.
func composeMemLimit(path, service string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	in := false
	for line := range strings.Lines(string(b)) {
		line = strings.TrimRight(line, "\n")
		if strings.HasPrefix(line, "  ") && !strings.HasPrefix(line, "   ") && strings.HasSuffix(line, ":") {
			in = strings.TrimSpace(line) == service+":"
			continue
		}
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "mem_limit:"); ok && in {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// inRoot resolves a path given relative to the repository root.
func inRoot(root, path string) string {
	if filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(root, path)
}

// findRoot walks up from the working directory to the directory holding go.work.
func findRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.work above the working directory: run from the repository, or set -root")
		}
		dir = parent
	}
}

func gitRevision(root string) string {
	out, err := exec.Command("git", "-C", root, "rev-parse", "--short=12", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	rev := strings.TrimSpace(string(out))
	// The services are built from the working tree, which may differ from the commit.
	if st, err := exec.Command("git", "-C", root, "status", "--porcelain", "--", "vote", "worker", "result", "analyzer", "platform", "loadgen").Output(); err == nil && len(st) > 0 {
		rev += " with local changes in " + strings.Join(changedModules(string(st)), ", ")
	}
	return rev
}

// changedModules lists the top-level directories named in git status --porcelain output.
func changedModules(status string) []string {
	var mods []string
	for line := range strings.Lines(status) {
		if len(line) < 4 {
			continue
		}
		path := strings.TrimSpace(line[3:])
		mod, _, _ := strings.Cut(path, "/")
		if !slices.Contains(mods, mod) {
			mods = append(mods, mod)
		}
	}
	return mods
}

func hostInfo(ctx context.Context) host {
	h := host{NumCPU: numCPU(), Go: runtime.Version()}
	first := func(name string, args ...string) string {
		out, err := exec.CommandContext(ctx, name, args...).Output()
		if err != nil {
			return ""
		}
		line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
		return line
	}
	if bin, err := servers.PostgresBin(); err == nil {
		h.Postgres = first(filepath.Join(bin, "postgres"), "--version")
	}
	h.Redis = first("redis-server", "--version")
	h.Docker = first("docker", "version", "--format", "{{.Server.Version}}")
	h.Kernel = first("uname", "-r")
	return h
}

func numCPU() int { return runtime.NumCPU() }

// loadAverage is the 1-minute load average; the report gives it for every section, since other
// work on a shared machine moves the figures.
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return -1
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
