package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/go-voting-app/voting-app/testkit"
	"github.com/go-voting-app/voting-app/testkit/proc"
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

// process is a service running as a child process (testkit/proc), its output kept for the test.
type process struct {
	*proc.Process
	stdout *testkit.Logs // JSON log lines
	stderr *testkit.Logs // nothing, unless the program panics or the race detector reports
}

// startProcess runs bin with exactly env and waits until /readyz answers 200. The service has a
// public server if env sets HTTP_ADDR (port 0: any free one). The process is stopped when the test
// ends and must then exit cleanly; on failure its output is printed.
func startProcess(t *testing.T, name, bin string, env map[string]string) *process {
	t.Helper()
	p := &process{stdout: &testkit.Logs{}, stderr: &testkit.Logs{}}
	_, public := env["HTTP_ADDR"]
	var err error
	p.Process, err = proc.Start(t.Context(), proc.Spec{Name: name, Bin: bin, Env: env, Public: public,
		Stdout: p.stdout, Stderr: p.stderr, ReadyTimeout: 30 * time.Second})
	if err != nil {
		t.Fatalf("%v\n%s stdout:\n%s\n%s stderr:\n%s", err, name, p.stdout, name, p.stderr)
	}
	// Cleanups run last-registered first: the process stops, then its output (shutdown included)
	// is printed.
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s (pid %d) stdout:\n%s\n%s stderr:\n%s", name, p.PID(), p.stdout, name, p.stderr)
		}
	})
	t.Cleanup(func() { p.stop(t) })
	return p
}

// waitMetric polls /metrics until the metric (summed over its labels) has the value want.
func (p *process) waitMetric(t *testing.T, name string, want float64) {
	t.Helper()
	testkit.Until(t, 20*time.Second, fmt.Sprintf("%s: %s = %g", p.Name, name, want), func() error {
		v, err := p.Metric(name)
		if err == nil && v != want {
			err = fmt.Errorf("%s is %g", name, v)
		}
		return err
	})
}

// stop sends SIGTERM, as the container runtime does, and expects a clean exit (status 0) within the
// time a deployment allows.
func (p *process) stop(t *testing.T) {
	t.Helper()
	if err := p.Stop(20 * time.Second); err != nil {
		t.Error(err)
	}
}
