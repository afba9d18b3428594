// Package proc runs the project's service binaries as child processes, configured only by their
// environment, as their containers run them: it gives each its ports, waits until /readyz says
// ready, reads its metrics and stops it with SIGTERM. The end-to-end tests and the benchmark
// driver both use it, so it does not import testing.
package proc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-voting-app/voting-app/testkit/servers"
)

// Spec says what to run.
type Spec struct {
	Name string
	Bin  string
	// Env is the program's whole environment: nothing of this process's is inherited, so a stray
	// PG* or REDIS_* variable of the machine cannot change what runs.
	Env map[string]string
	// Public says the program serves HTTP_ADDR besides OPS_ADDR. An address that is not in Env,
	// or has port 0, is given a free loopback port.
	Public bool
	// Stdout and Stderr receive the program's output; nil discards it.
	Stdout, Stderr io.Writer
	// ReadyTimeout bounds the wait for /readyz (default one minute).
	ReadyTimeout time.Duration
}

// Process is a started program.
type Process struct {
	Name  string
	HTTP  string        // base URL of the public server; "" without one
	Ops   string        // base URL of the ops server
	Ready time.Duration // from exec to the first ready /readyz

	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited; err is set then
	err  error

	stopOnce sync.Once
	stopErr  error
}

// Start runs the program and waits until it is ready. A program that exits or stays unready is
// stopped and reported with the error.
func Start(ctx context.Context, s Spec) (*Process, error) {
	env := maps.Clone(s.Env)
	if env == nil {
		env = map[string]string{}
	}
	p := &Process{Name: s.Name, done: make(chan struct{})}
	var err error
	if p.Ops, err = address(env, "OPS_ADDR"); err != nil {
		return nil, err
	}
	if s.Public {
		if p.HTTP, err = address(env, "HTTP_ADDR"); err != nil {
			return nil, err
		}
	}
	p.cmd = exec.Command(s.Bin)
	p.cmd.Env = []string{} // not nil: nil would mean this process's environment
	for _, k := range slices.Sorted(maps.Keys(env)) {
		p.cmd.Env = append(p.cmd.Env, k+"="+env[k])
	}
	p.cmd.Stdout, p.cmd.Stderr = s.Stdout, s.Stderr
	p.cmd.SysProcAttr = servers.ChildAttr(nil)
	started := time.Now()
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", s.Name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	timeout := s.ReadyTimeout
	if timeout == 0 {
		timeout = time.Minute
	}
	if err := p.waitReady(ctx, timeout); err != nil {
		p.Stop(5 * time.Second)
		return nil, err
	}
	p.Ready = time.Since(started)
	return p, nil
}

// address makes env[key] a concrete loopback address and returns its base URL.
func address(env map[string]string, key string) (string, error) {
	addr := env[key]
	if _, port, err := net.SplitHostPort(addr); addr == "" || err != nil || port == "0" {
		port, err := servers.FreePort()
		if err != nil {
			return "", err
		}
		addr = "127.0.0.1:" + strconv.Itoa(port)
		env[key] = addr
	}
	return "http://" + addr, nil
}

func (p *Process) waitReady(ctx context.Context, timeout time.Duration) error {
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(timeout)
	last := "no answer"
	for {
		res, err := client.Get(p.Ops + "/readyz")
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
			last = res.Status + " " + strings.TrimSpace(string(body))
		} else {
			last = err.Error()
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited before it was ready: %v", p.Name, p.err)
		case <-ctx.Done():
			return fmt.Errorf("%s: %w", p.Name, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready within %s: /readyz: %s", p.Name, timeout, last)
		}
	}
}

// PID is the process id.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Err is how the process exited, once Done is closed.
func (p *Process) Err() error { return p.err }

// Stop sends SIGTERM, as a container runtime does, and waits up to grace for the exit; a process
// still running then is killed. It reports anything but a clean exit (status 0) after the signal:
// a process that had already exited, failed, or had to be killed. Later calls return the same.
func (p *Process) Stop(grace time.Duration) error {
	p.stopOnce.Do(func() {
		select {
		case <-p.done:
			p.stopErr = fmt.Errorf("%s had exited before it was stopped: %v", p.Name, p.err)
			return
		default:
		}
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
			if p.err != nil {
				p.stopErr = fmt.Errorf("%s did not exit cleanly on SIGTERM: %w", p.Name, p.err)
			}
		case <-time.After(grace):
			p.cmd.Process.Kill()
			<-p.done
			p.stopErr = fmt.Errorf("%s still running %s after SIGTERM; killed", p.Name, grace)
		}
	})
	return p.stopErr
}

// Metric reads a metric from the process's /metrics, summed over its labels.
func (p *Process) Metric(name string) (float64, error) {
	client := &http.Client{Timeout: 2 * time.Second}
	res, err := client.Get(p.Ops + "/metrics")
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	return SumMetric(res.Body, name)
}

// SumMetric adds up every sample of a metric in the Prometheus text format.
func SumMetric(r io.Reader, name string) (float64, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var sum float64
	found := false
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, name)
		if !ok || rest == "" || (rest[0] != ' ' && rest[0] != '{') {
			continue // another metric, maybe with this one's name as a prefix
		}
		fields := strings.Fields(line)
		v, err := strconv.ParseFloat(fields[len(fields)-1], 64)
		if err != nil {
			return 0, fmt.Errorf("metric %s: %q", name, line)
		}
		sum += v
		found = true
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	if !found {
		return 0, errors.New("metric " + name + " not found")
	}
	return sum, nil
}
