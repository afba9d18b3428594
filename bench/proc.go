package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	child "github.com/go-voting-app/voting-app/testkit/proc"
)

// service is one of the app's binaries running as a child process (testkit/proc), configured by
// its environment as its container runs it. Its log goes straight to a file: no pipe for this
// process to drain while it measures.
type service struct {
	*child.Process
	name    string
	logPath string
}

// startService runs bin on free loopback ports with the given environment on top of a minimal one
// (PATH and HOME, so nothing of the benchmark's own environment leaks in), and waits for /readyz
// to say ready.
func startService(ctx context.Context, name, bin, logDir string, env map[string]string) (*service, error) {
	logPath := filepath.Join(logDir, name+".log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	full := map[string]string{"PATH": os.Getenv("PATH"), "HOME": os.TempDir()}
	maps.Copy(full, env)
	p, err := child.Start(ctx, child.Spec{Name: name, Bin: bin, Env: full, Public: name != "worker",
		Stdout: logf, Stderr: logf})
	if err != nil {
		logf.Close()
		return nil, fmt.Errorf("%w; log: %s", err, logPath)
	}
	go func() { <-p.Done(); logf.Close() }()
	return &service{Process: p, name: name, logPath: logPath}, nil
}

func (s *service) pid() int { return s.PID() }

// stop sends SIGTERM and waits for a clean exit; a service that hangs is killed after 20s.
func (s *service) stop() error { return s.Stop(20 * time.Second) }

func (s *service) metric(name string) (float64, error) { return s.Metric(name) }

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
