package e2e

import (
	"bufio"
	"context"
	"fmt"
	"maps"
	"net/http"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-voting-app/voting-app/platform/testenv"
)

// buildServices compiles the named commands of the workspace (vote, worker, …) into a temporary
// directory and returns it. When this test binary has the race detector (go test -race), so do the
// services: a data race in one makes it exit with the race detector's status, which stop reports.
func buildServices(t *testing.T, names ...string) string {
	t.Helper()
	root, err := filepath.Abs("..") // the workspace root, where go.work names every module
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	args := []string{"build", "-o", dir + string(filepath.Separator)}
	if raceEnabled() {
		args = append(args, "-race")
	}
	for _, name := range names {
		args = append(args, "./"+name)
	}
	// A cold build cache needs minutes on a small machine; a warm one, seconds.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	start := time.Now()
	// go test puts its own toolchain first on PATH, so this is the go that runs the test.
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	t.Logf("built %s in %s (race detector: %t)", strings.Join(names, ", "),
		time.Since(start).Round(100*time.Millisecond), raceEnabled())
	return dir
}

// raceEnabled reports whether this test binary was built with -race.
func raceEnabled() bool {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range info.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}

// process is a service running as a child process, configured only by the environment it is given,
// as its container runs it.
type process struct {
	name   string
	cmd    *exec.Cmd
	stdout *testenv.Logs // JSON log lines: the "listening" lines give the ports picked
	stderr *testenv.Logs // nothing, unless the program panics or the race detector reports
	done   chan struct{} // closed when the process has exited; err is set then
	err    error

	stopped bool // stop has run; only the test's goroutine touches it

	HTTP string // base URL of the public server, if the service has one
	Ops  string // base URL of the ops server
}

// startProcess runs bin with exactly env (nothing is inherited, so a stray PG* or REDIS_* variable
// of the machine cannot change what the test runs against) and waits until its servers listen and
// /readyz answers 200. The service has a public server if env sets HTTP_ADDR. The process is stopped
// when the test ends, and on failure its output is printed.
func startProcess(t *testing.T, name, bin string, env map[string]string) *process {
	t.Helper()
	p := &process{
		name:   name,
		cmd:    exec.Command(bin),
		stdout: &testenv.Logs{},
		stderr: &testenv.Logs{},
		done:   make(chan struct{}),
	}
	p.cmd.Env = []string{} // not nil: nil would mean the test's own environment
	for _, k := range slices.Sorted(maps.Keys(env)) {
		p.cmd.Env = append(p.cmd.Env, k+"="+env[k])
	}
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	// Cleanups run last-registered first: the process stops, then its output (shutdown included)
	// is printed.
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s (pid %d) stdout:\n%s\n%s stderr:\n%s", name, p.cmd.Process.Pid, p.stdout, name, p.stderr)
		}
	})
	t.Cleanup(func() { p.stop(t) })

	if _, ok := env["HTTP_ADDR"]; ok {
		p.HTTP = "http://" + p.stdout.WaitAddr(t, "http")
	}
	p.Ops = "http://" + p.stdout.WaitAddr(t, "ops")
	p.waitReady(t)
	return p
}

// waitReady polls /readyz until it answers 200.
func (p *process) waitReady(t *testing.T) {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(30 * time.Second)
	last := "no answer"
	for {
		res, err := client.Get(p.Ops + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
			last = res.Status
		} else {
			last = err.Error()
		}
		select {
		case <-p.done:
			t.Fatalf("%s exited before it was ready: %v", p.name, p.err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready within 30s: /readyz: %s", p.name, last)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitMetric polls /metrics until the unlabelled metric has the value want.
func (p *process) waitMetric(t *testing.T, name string, want float64) {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(20 * time.Second)
	last := "not exported"
	for {
		if v, err := p.metric(client, name); err != nil {
			last = err.Error()
		} else if v == want {
			return
		} else {
			last = strconv.FormatFloat(v, 'g', -1, 64)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s is %s after 20s, want %g", p.name, name, last, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *process) metric(client *http.Client, name string) (float64, error) {
	res, err := client.Get(p.Ops + "/metrics")
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return strconv.ParseFloat(v, 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("%s not in /metrics", name)
}

// stop sends SIGTERM, as the container runtime does, and expects a clean exit (status 0) within the
// time a deployment allows.
func (p *process) stop(t *testing.T) {
	t.Helper()
	if p.stopped {
		return
	}
	p.stopped = true
	select {
	case <-p.done:
		t.Errorf("%s had exited before it was stopped: %v", p.name, p.err)
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
		t.Errorf("%s still running 20s after SIGTERM; killed", p.name)
		return
	}
	if p.err != nil {
		t.Errorf("%s did not exit cleanly on SIGTERM: %v", p.name, p.err)
	}
}
