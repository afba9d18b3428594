package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/go-voting-app/voting-app/testkit/servers"
)

// microBenchmarks are the hot paths of benchmark 6, by package (relative to the root).
var microBenchmarks = []struct{ pkg, pattern, what string }{
	{"platform/queue", "^Benchmark(DecodeEntry|DecodeBatch)$", "entry decode, and a batch decoded and deduped"},
	{"platform/ballot", "^BenchmarkLatest$", "per-voter dedupe"},
	{"vote", "^Benchmark(Vote|VoteParallel)$", "vote handler"},
	{"result", "^Benchmark(Snapshot|EventEncode|BrokerPublish)$", "tally encoding and fan-out"},
}

// testBinary compiles a package's tests once, so -count runs and profiles share the build.
func (b *bench) testBinary(ctx context.Context, pkg string) (string, error) {
	bin := filepath.Join(b.bins.dir, strings.ReplaceAll(pkg, "/", "-")+".test")
	cmd := exec.CommandContext(ctx, "go", "test", "-c", "-o", bin, "./"+pkg)
	cmd.Dir = b.cfg.root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go test -c ./%s: %v\n%s", pkg, err, out)
	}
	return bin, nil
}

// goBench runs a test binary's benchmarks in the package's directory, as go test does.
func (b *bench) goBench(ctx context.Context, bin, pkg string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, bin, append([]string{"-test.run", "^$"}, args...)...)
	cmd.Dir = filepath.Join(b.cfg.root, pkg)
	cmd.SysProcAttr = servers.ChildAttr(nil)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %v\n%s", filepath.Base(bin), strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// micro is benchmark 6: go test -bench -benchmem on the hot paths, medians over -count runs.
func (b *bench) micro(ctx context.Context) error {
	res := &microResult{Count: b.cfg.microCount, Benchtime: b.cfg.microTime}
	for _, mb := range microBenchmarks {
		bin, err := b.testBinary(ctx, mb.pkg)
		if err != nil {
			return err
		}
		out, err := b.goBench(ctx, bin, mb.pkg, "-test.bench", mb.pattern, "-test.benchmem",
			"-test.count", strconv.Itoa(b.cfg.microCount), "-test.benchtime", b.cfg.microTime)
		if err != nil {
			return err
		}
		cmd := fmt.Sprintf("go test -run '^$' -bench '%s' -benchmem -count %d -benchtime %s ./%s",
			mb.pattern, b.cfg.microCount, b.cfg.microTime, mb.pkg)
		for _, l := range medianBench(parseBench(out)) {
			l.Package, l.Command = mb.pkg, cmd
			res.Benchmarks = append(res.Benchmarks, l)
			b.logf("micro: %-28s %12.0f ns/op %8.0f B/op %6.0f allocs/op", l.Name, l.NsOp, l.BOp, l.Allocs)
		}
	}
	b.res.Micro = res
	return nil
}

// parseBench reads the result lines of go test -bench output:
//
//	BenchmarkVote-2   	   12345	     98765 ns/op	  1234 B/op	  12 allocs/op	  57197 votes/s
func parseBench(out string) []benchLine {
	var lines []benchLine
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		if _, err := strconv.Atoi(f[1]); err != nil {
			continue // a log line that starts with a benchmark's name
		}
		name := f[0]
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			if _, err := strconv.Atoi(name[i+1:]); err == nil {
				name = name[:i]
			}
		}
		l := benchLine{Name: name, Extra: map[string]float64{}}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			switch f[i+1] {
			case "ns/op":
				l.NsOp = v
			case "B/op":
				l.BOp = v
			case "allocs/op":
				l.Allocs = v
			default:
				l.Extra[f[i+1]] = v
			}
		}
		if len(l.Extra) == 0 {
			l.Extra = nil
		}
		lines = append(lines, l)
	}
	return lines
}

// medianBench folds the -count repetitions of each benchmark into their medians, in first-seen order.
func medianBench(lines []benchLine) []benchLine {
	var order []string
	groups := map[string][]benchLine{}
	for _, l := range lines {
		if _, ok := groups[l.Name]; !ok {
			order = append(order, l.Name)
		}
		groups[l.Name] = append(groups[l.Name], l)
	}
	var out []benchLine
	for _, name := range order {
		g := groups[name]
		col := func(get func(benchLine) float64) float64 {
			xs := make([]float64, len(g))
			for i, l := range g {
				xs[i] = get(l)
			}
			return median(xs)
		}
		m := benchLine{Name: name,
			NsOp:   col(func(l benchLine) float64 { return l.NsOp }),
			BOp:    col(func(l benchLine) float64 { return l.BOp }),
			Allocs: col(func(l benchLine) float64 { return l.Allocs })}
		for k := range g[0].Extra {
			if m.Extra == nil {
				m.Extra = map[string]float64{}
			}
			m.Extra[k] = col(func(l benchLine) float64 { return l.Extra[k] })
		}
		out = append(out, m)
	}
	return out
}

// profiledBenchmarks are the benchmarks profiled for benchmarks 1 and 2.
var profiledBenchmarks = []struct{ name, pkg, bench, benchtime string }{
	{"vote", "vote", "^BenchmarkVoteHTTP$", "5s"},
	{"worker", "worker", "^BenchmarkDrain$", "1x"},
}

// profile records CPU and allocation profiles of the vote service under concurrent HTTP load and
// of the worker draining a stream, into out/bench/profiles, and keeps the top of each for the
// report.
func (b *bench) profile(ctx context.Context) error {
	dir := filepath.Join(b.work, "profiles")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	res := &profileResult{}
	for _, p := range profiledBenchmarks {
		bin, err := b.testBinary(ctx, p.pkg)
		if err != nil {
			return err
		}
		cpu := filepath.Join(dir, p.name+".cpu.pprof")
		mem := filepath.Join(dir, p.name+".alloc.pprof")
		start := time.Now()
		if _, err := b.goBench(ctx, bin, p.pkg, "-test.bench", p.bench, "-test.benchtime", p.benchtime,
			"-test.benchmem", "-test.cpuprofile", cpu, "-test.memprofile", mem); err != nil {
			return err
		}
		b.logf("profile: %s in %s", p.name, time.Since(start).Round(100*time.Millisecond))
		cmd := fmt.Sprintf("go test -run '^$' -bench '%s' -benchtime %s -cpuprofile %s -memprofile %s ./%s",
			p.bench, p.benchtime, rel(b.cfg.root, cpu), rel(b.cfg.root, mem), p.pkg)
		// CPU by cumulative time: the flat top of a network service is the write and read system
		// calls, the cumulative one shows which code paths make them. Allocations by bytes, flat.
		for _, kind := range []struct {
			name, path string
			args       []string
		}{
			{p.name + "-cpu", cpu, []string{"-cum"}},
			{p.name + "-alloc", mem, []string{"-sample_index", "alloc_space"}},
		} {
			args := append([]string{"tool", "pprof", "-top", "-nodecount", "40"}, kind.args...)
			out, err := exec.CommandContext(ctx, "go", append(args, bin, kind.path)...).Output()
			if err != nil {
				return fmt.Errorf("go tool pprof %s: %w", kind.path, err)
			}
			os.WriteFile(strings.TrimSuffix(kind.path, ".pprof")+".top.txt", out, 0o644)
			total, top := parseTop(string(out))
			res.Profiles = append(res.Profiles, profile{Name: kind.name, Path: rel(b.cfg.root, kind.path),
				Command: cmd, Total: total, Top: top})
		}
	}
	b.res.Profiles = res
	return nil
}

// parseTop reads go tool pprof -top output: the total from "… of 5.60s total" and the rows
// "flat flat% sum% cum cum% function".
func parseTop(out string) (string, []topLine) {
	var total string
	var top []topLine
	pct := func(s string) float64 {
		v, _ := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
		return v
	}
	for line := range strings.Lines(out) {
		if i := strings.Index(line, "% of "); i >= 0 && strings.Contains(line, " total") {
			rest := line[i+len("% of "):]
			total, _, _ = strings.Cut(rest, " total")
			continue
		}
		f := strings.Fields(line)
		if len(f) < 6 || !strings.HasSuffix(f[1], "%") || !strings.HasSuffix(f[4], "%") || f[0] == "flat" {
			continue
		}
		top = append(top, topLine{Flat: f[0], FlatPct: pct(f[1]), Cum: f[3], CumPct: pct(f[4]),
			Func: strings.Join(f[5:], " ")})
	}
	return total, top
}

func rel(root, path string) string {
	if r, err := filepath.Rel(root, path); err == nil {
		return r
	}
	return path
}
