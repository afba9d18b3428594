package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// service is one of the app's binaries running as a child process, configured by its environment
// as its container runs it. Its log goes straight to a file: no pipe for this process to drain
// while it measures.
type service struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	err     error
	started time.Time

	HTTP string // base URL of the public server (the worker has none)
	Ops  string // base URL of the ops server
	// Ready is how long the process took from exec to its first ready /readyz.
	Ready time.Duration
}

// startService runs bin on free loopback ports with the given environment (on top of a minimal
// one, PATH and HOME, so nothing of the benchmark's own environment leaks in), and waits for
// /readyz to say ready. The ports are picked here rather than read from the log, which a quiet
// LOG_LEVEL leaves without its "listening" lines.
func startService(ctx context.Context, name, bin, logDir string, env map[string]string) (*service, error) {
	logPath := filepath.Join(logDir, name+".log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	httpPort, err1 := freePort()
	opsPort, err2 := freePort()
	if err := errors.Join(err1, err2); err != nil {
		logf.Close()
		return nil, err
	}
	s := &service{name: name, logPath: logPath, done: make(chan struct{}),
		HTTP: fmt.Sprintf("http://127.0.0.1:%d", httpPort), Ops: fmt.Sprintf("http://127.0.0.1:%d", opsPort)}
	base := map[string]string{
		"HTTP_ADDR": fmt.Sprintf("127.0.0.1:%d", httpPort), "OPS_ADDR": fmt.Sprintf("127.0.0.1:%d", opsPort),
		"PATH": os.Getenv("PATH"), "HOME": os.TempDir(),
	}
	if name == "worker" {
		s.HTTP = ""
	}
	for k, v := range env {
		base[k] = v
	}
	s.cmd = exec.Command(bin)
	for k, v := range base {
		s.cmd.Env = append(s.cmd.Env, k+"="+v)
	}
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	s.cmd.SysProcAttr = childAttr(nil)
	s.started = time.Now()
	if err := s.cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		s.err = s.cmd.Wait()
		logf.Close()
		close(s.done)
	}()
	if err := s.waitReady(ctx, 60*time.Second); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

func (s *service) waitReady(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: time.Second}
	for {
		resp, err := client.Get(s.Ops + "/readyz")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				s.Ready = time.Since(s.started)
				return nil
			}
		}
		select {
		case <-s.done:
			return fmt.Errorf("%s exited before it was ready (%v); log: %s", s.name, s.err, s.logPath)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready within %s; log: %s", s.name, timeout, s.logPath)
		}
	}
}

func (s *service) pid() int { return s.cmd.Process.Pid }

// stop sends SIGTERM and waits for the exit; a service that hangs is killed after 20s. It returns
// the exit error, if the service did not exit cleanly.
func (s *service) stop() error {
	select {
	case <-s.done:
		return s.err
	default:
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(20 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
		return fmt.Errorf("%s did not stop within 20s of SIGTERM", s.name)
	}
	return s.err
}

// metric reads one un-labelled (or summed over labels) value from the service's /metrics.
func (s *service) metric(name string) (float64, error) {
	resp, err := http.Get(s.Ops + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	return sumMetric(resp.Body, name)
}

// sumMetric adds up every sample of a metric in the Prometheus text format.
func sumMetric(r io.Reader, name string) (float64, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var sum float64
	found := false
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) {
			continue
		}
		rest := line[len(name):]
		if rest == "" || (rest[0] != ' ' && rest[0] != '{') {
			continue // another metric with this one's name as a prefix
		}
		fields := strings.Fields(line)
		v, err := strconv.ParseFloat(fields[len(fields)-1], 64)
		if err != nil {
			return 0, fmt.Errorf("metric %s: %q", name, line)
		}
		sum += v
		found = true
	}
	if !found {
		return 0, fmt.Errorf("metric %s not found", name)
	}
	return sum, sc.Err()
}

// clockTicks is USER_HZ, the unit of the CPU times in /proc; 100 on every Linux architecture Go
// supports in practice.
const clockTicks = 100

// procStat is the part of /proc/<pid>/stat the benchmark uses.
type procStat struct {
	ppid         int
	utime, stime uint64 // ticks spent by the process itself
	cutime       uint64 // ticks of its waited-for children (user + system)
}

func readProcStat(pid int) (procStat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, err
	}
	return parseProcStat(string(b))
}

// parseProcStat parses /proc/<pid>/stat. The command name is in parentheses and may contain
// spaces, so fields are counted from the last ')'.
func parseProcStat(s string) (procStat, error) {
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return procStat{}, errors.New("/proc stat: no command name")
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); ppid is field 4, utime 14, stime 15, cutime 16, cstime 17.
	if len(f) < 15 {
		return procStat{}, errors.New("/proc stat: too few fields")
	}
	num := func(k int) uint64 { n, _ := strconv.ParseUint(f[k-3], 10, 64); return n }
	ppid, _ := strconv.Atoi(f[1])
	return procStat{ppid: ppid, utime: num(14), stime: num(15), cutime: num(16) + num(17)}, nil
}

// procTicks is the CPU time of a process; with tree, also of all its live descendants and of its
// children that already exited (Postgres backends of closed connections, for example).
func procTicks(root int, tree bool) uint64 {
	if !tree {
		st, err := readProcStat(root)
		if err != nil {
			return 0
		}
		return st.utime + st.stime
	}
	stats := map[int]procStat{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, err := readProcStat(pid); err == nil {
			stats[pid] = st
		}
	}
	children := map[int][]int{}
	for pid, st := range stats {
		children[st.ppid] = append(children[st.ppid], pid)
	}
	var total uint64
	var walk func(int)
	walk = func(pid int) {
		st, ok := stats[pid]
		if !ok {
			return
		}
		total += st.utime + st.stime
		for _, c := range children[pid] {
			walk(c)
		}
	}
	walk(root)
	if st, ok := stats[root]; ok {
		total += st.cutime
	}
	return total
}

// systemTicks returns the busy and total ticks of all CPUs since boot, from /proc/stat.
func systemTicks() (busy, total uint64, err error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	return parseSystemTicks(string(b))
}

func parseSystemTicks(s string) (busy, total uint64, err error) {
	line, _, _ := strings.Cut(s, "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return 0, 0, errors.New("/proc/stat: no cpu line")
	}
	// user nice system idle iowait irq softirq steal (guest time is already in user).
	for i, v := range f[1:] {
		if i >= 8 {
			break
		}
		n, _ := strconv.ParseUint(v, 10, 64)
		total += n
		if i != 3 && i != 4 { // idle, iowait
			busy += n
		}
	}
	return busy, total, nil
}

// resident is a process's resident set split by what backs it, in bytes: anonymous memory (heap,
// stacks) is the process's own; file-backed pages are mostly its binary's, shared with the page
// cache and with other processes running the same binary.
type resident struct {
	RSS  int64 `json:"rss"`
	Anon int64 `json:"anon"`
	File int64 `json:"file"`
}

func readResident(pid int) (resident, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return resident{}, err
	}
	return parseResident(string(b))
}

func parseResident(s string) (resident, error) {
	var r resident
	for line := range strings.Lines(s) {
		name, rest, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		var dst *int64
		switch name {
		case "VmRSS":
			dst = &r.RSS
		case "RssAnon":
			dst = &r.Anon
		case "RssFile":
			dst = &r.File
		default:
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return resident{}, fmt.Errorf("/proc status: %q", line)
		}
		n, _ := strconv.ParseInt(f[0], 10, 64)
		*dst = n << 10
	}
	if r.RSS == 0 {
		return resident{}, errors.New("/proc status: no VmRSS")
	}
	return r, nil
}

// rss returns a process's resident set (VmRSS) and its peak (VmHWM) in bytes.
func rss(pid int) (cur, peak int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	return parseRSS(string(b))
}

func parseRSS(s string) (cur, peak int64, err error) {
	for line := range strings.Lines(s) {
		name, rest, ok := strings.Cut(line, ":")
		if !ok || (name != "VmRSS" && name != "VmHWM") {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, 0, fmt.Errorf("/proc status: %q", line)
		}
		n, _ := strconv.ParseInt(f[0], 10, 64)
		if name == "VmRSS" {
			cur = n << 10
		} else {
			peak = n << 10
		}
	}
	if cur == 0 {
		return 0, 0, errors.New("/proc status: no VmRSS")
	}
	return cur, peak, nil
}

// meter measures, over an interval, the CPU time of named groups of processes and of the whole
// machine, so a report can say who used the two cores: the service, its dependencies, the load
// generator, or something outside the benchmark.
type meter struct {
	groups  map[string]proc
	start   time.Time
	ticks   map[string]uint64
	sysBusy uint64
	sysAll  uint64
}

// cpuShare is the result of a meter: cores used on average by each group, and the machine.
type cpuShare struct {
	Seconds float64            `json:"seconds"`
	Cores   map[string]float64 `json:"cores"`   // per group, 1.0 = one core busy all the time
	Busy    float64            `json:"busy"`    // the whole machine, in cores
	Others  float64            `json:"others"`  // busy minus the groups: other users, the kernel
	NumCPU  int                `json:"num_cpu"` // cores of the machine
}

// proc names a process to meter; with tree, its descendants count too (Postgres and its backends).
type proc struct {
	pid  int
	tree bool
}

func startMeter(groups map[string]proc) *meter {
	m := &meter{groups: groups, ticks: map[string]uint64{}}
	for name, p := range groups {
		m.ticks[name] = procTicks(p.pid, p.tree)
	}
	m.sysBusy, m.sysAll, _ = systemTicks()
	m.start = time.Now()
	return m
}

func (m *meter) stop() cpuShare {
	secs := time.Since(m.start).Seconds()
	busy, all, _ := systemTicks()
	out := cpuShare{Seconds: secs, Cores: map[string]float64{}, NumCPU: numCPU()}
	var ours float64
	for name, p := range m.groups {
		c := float64(procTicks(p.pid, p.tree)-m.ticks[name]) / clockTicks / secs
		out.Cores[name] = c
		ours += c
	}
	if all > m.sysAll {
		out.Busy = float64(busy-m.sysBusy) / float64(all-m.sysAll) * float64(out.NumCPU)
	}
	out.Others = max(out.Busy-ours, 0)
	return out
}

// rssSampler samples a process's resident set every interval until stopped.
type rssSampler struct {
	stopc chan struct{}
	done  chan struct{}
	max   int64
	sum   int64
	n     int64
}

func sampleRSS(pid int, every time.Duration) *rssSampler {
	s := &rssSampler{stopc: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			if cur, _, err := rss(pid); err == nil {
				s.max = max(s.max, cur)
				s.sum += cur
				s.n++
			}
			select {
			case <-s.stopc:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// memStats is a process's resident set over an interval, in bytes.
type memStats struct {
	Mean int64 `json:"mean"`
	Max  int64 `json:"max"`
}

func (s *rssSampler) stop() memStats {
	close(s.stopc)
	<-s.done
	if s.n == 0 {
		return memStats{}
	}
	return memStats{Mean: s.sum / s.n, Max: s.max}
}
