package main

import (
	"encoding/xml"
	"io"
	"maps"
	"os"
	"strings"
	"testing"
	"time"
)

func TestMedian(t *testing.T) {
	tests := []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{3, 1, 2}, 2}, {[]float64{4, 1, 3, 2}, 2.5}}
	for _, tt := range tests {
		if got := median(tt.in); got != tt.want {
			t.Errorf("median(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestPercentile(t *testing.T) {
	var s []time.Duration
	for i := 1; i <= 1000; i++ {
		s = append(s, time.Duration(i)*time.Millisecond)
	}
	tests := []struct {
		p    float64
		want time.Duration
	}{{50, 500 * time.Millisecond}, {99, 990 * time.Millisecond}, {99.9, 999 * time.Millisecond}, {100, time.Second}, {0, time.Millisecond}}
	for _, tt := range tests {
		if got := percentile(s, tt.p); got != tt.want {
			t.Errorf("p%v = %v, want %v", tt.p, got, tt.want)
		}
	}
	sum := latencies{3 * time.Millisecond, time.Millisecond, 2 * time.Millisecond}.summary()
	if sum.Count != 3 || sum.P50 != 2 || sum.Max != 3 || sum.Mean != 2 {
		t.Errorf("summary %+v", sum)
	}
}

func TestParseProcStat(t *testing.T) {
	// The command name may hold spaces and parentheses; fields count from the last ')'.
	line := "1234 (my (odd) cmd) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 7 3 20 0 4 0 1000 0 0\n"
	st, err := parseProcStat(line)
	if err != nil {
		t.Fatal(err)
	}
	if st.ppid != 1 || st.utime != 250 || st.stime != 50 || st.cutime != 10 {
		t.Fatalf("got %+v", st)
	}
	if _, err := parseProcStat("garbage"); err == nil {
		t.Fatal("garbage parsed")
	}
}

func TestParseSystemTicks(t *testing.T) {
	busy, total, err := parseSystemTicks("cpu  100 5 50 800 20 1 2 3 0 0\ncpu0 1 2 3\n")
	if err != nil {
		t.Fatal(err)
	}
	if busy != 161 || total != 981 {
		t.Fatalf("busy %d total %d", busy, total)
	}
}

func TestParseRSS(t *testing.T) {
	cur, peak, err := parseRSS("Name:\tvote\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\nThreads:\t5\n")
	if err != nil || cur != 10<<20 || peak != 20<<20 {
		t.Fatalf("%d %d %v", cur, peak, err)
	}
	if _, _, err := parseRSS("Name:\tzombie\n"); err == nil {
		t.Fatal("no VmRSS accepted")
	}
}

func TestEventTotal(t *testing.T) {
	tests := []struct {
		line string
		want int64
		ok   bool
	}{
		{`data: {"options":[{"key":"a","votes":3}],"total":12345,"summary":"12,345 votes"}` + "\n", 12345, true},
		{`data: {"total":7}` + "\n", 7, true},
		{"event: tally\n", 0, false},
		{": heartbeat\n", 0, false},
		{`data: {"total":}` + "\n", 0, false},
	}
	for _, tt := range tests {
		got, ok := eventTotal(tt.line)
		if got != tt.want || ok != tt.ok {
			t.Errorf("eventTotal(%q) = %d, %t", tt.line, got, ok)
		}
	}
}

func TestSummarizeStreams(t *testing.T) {
	ms := int64(time.Millisecond)
	streams := [][]receipt{
		{{total: 10, at: 100 * ms}, {total: 20, at: 200 * ms}},
		{{total: 10, at: 103 * ms}, {total: 20, at: 210 * ms}},
		{{total: 20, at: 205 * ms}}, // skipped 10
	}
	rep := summarizeStreams(streams)
	if rep.Deliveries != 5 || rep.Tallies != 2 || rep.Missed != 1 {
		t.Fatalf("got %+v", rep)
	}
	if rep.Lag.Max != 10 || rep.Lag.P50 != 3 {
		t.Fatalf("lag %+v", rep.Lag)
	}
	if len(rep.First) != 2 || rep.First[0] != [2]int64{10, 100 * ms} || rep.First[1] != [2]int64{20, 200 * ms} {
		t.Fatalf("first %v", rep.First)
	}
}

// matchVisible must never count a vote as shown before an event whose total covers its whole
// transaction's prefix in commit order, even when a later transaction commits first.
func TestMatchVisible(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	votes := []acceptedVote{{"v1", at(0)}, {"v2", at(1)}, {"v3", at(2)}, {"v4", at(3)}}
	// Transaction 7 (v1, v2) commits after transaction 8 (v3): commit order is 8, 7, then 9 (v4).
	rows := []commitRow{
		{"v1", 7, at(20)}, {"v2", 7, at(20)},
		{"v3", 8, at(10)},
		{"v4", 9, at(30)},
	}
	events := []tallyEvent{
		{at(0), 100},  // the baseline
		{at(15), 101}, // v3 only: a prefix of 1
		{at(25), 103}, // v3, v1, v2
		{at(40), 104}, // everything
	}
	v := matchVisible(votes, rows, events, 100)
	if v.offBoundary != 0 || v.batches != 3 || v.unmatched != 0 {
		t.Fatalf("got %+v", v)
	}
	want := latencies{25 * time.Millisecond, 24 * time.Millisecond, 13 * time.Millisecond, 37 * time.Millisecond}
	if len(v.visible) != len(want) {
		t.Fatalf("visible %v", v.visible)
	}
	for i := range want {
		if v.visible[i] != want[i] {
			t.Errorf("vote %d: visible after %v, want %v", i+1, v.visible[i], want[i])
		}
	}
	// A total of 102 would split transaction 7: no snapshot can see that, so it is flagged.
	v = matchVisible(votes, rows, append(events, tallyEvent{at(50), 102}), 100)
	if v.offBoundary != 1 {
		t.Fatalf("off boundary %d, want 1", v.offBoundary)
	}
	// A vote without a row, or beyond the last event, is not matched.
	v = matchVisible(append(votes, acceptedVote{"ghost", at(5)}), rows, events[:3], 100)
	if v.unmatched != 2 || len(v.visible) != 3 {
		t.Fatalf("unmatched %d visible %d", v.unmatched, len(v.visible))
	}
}

func TestParseBench(t *testing.T) {
	out := `goos: linux
BenchmarkVote-2   	   12345	     98765 ns/op	    1234 B/op	      12 allocs/op
BenchmarkVote-2   	   12000	     90000 ns/op	    1234 B/op	      12 allocs/op
BenchmarkVote-2   	   12000	     95000 ns/op	    1234 B/op	      12 allocs/op
BenchmarkDecodeBatch-2   	 673	 321150 ns/op	 321.2 ns/entry	 128336 B/op	 6 allocs/op
BenchmarkBrokerPublish/subscribers=1000-2   100   61655 ns/op   1127 B/op   12 allocs/op
BenchmarkVote logged something
PASS
`
	got := medianBench(parseBench(out))
	if len(got) != 3 {
		t.Fatalf("got %+v", got)
	}
	if got[0].Name != "BenchmarkVote" || got[0].NsOp != 95000 || got[0].Allocs != 12 {
		t.Errorf("vote %+v", got[0])
	}
	if got[1].Extra["ns/entry"] != 321.2 || got[1].BOp != 128336 {
		t.Errorf("decode %+v", got[1])
	}
	if got[2].Name != "BenchmarkBrokerPublish/subscribers=1000" {
		t.Errorf("sub-benchmark name %q", got[2].Name)
	}
}

func TestParseTop(t *testing.T) {
	out := `File: vote.test
Type: cpu
Showing nodes accounting for 4.08s, 48.63% of 8.39s total
Dropped 500 nodes (cum <= 0.04s)
      flat  flat%   sum%        cum   cum%
     2.99s 35.64% 35.64%      2.99s 35.64%  internal/runtime/syscall/linux.Syscall6
     0.12s  1.43% 37.07%      0.12s  1.43%  runtime.nextFreeFast (inline)
`
	total, top := parseTop(out)
	if total != "8.39s" || len(top) != 2 {
		t.Fatalf("total %q top %+v", total, top)
	}
	if top[1].Func != "runtime.nextFreeFast (inline)" || top[0].FlatPct != 35.64 {
		t.Fatalf("top %+v", top)
	}
}

func TestParseSize(t *testing.T) {
	tests := map[string]int64{"12.5 MiB": 12.5 * (1 << 20), "3.5MiB": 3.5 * (1 << 20), "980KiB": 980 << 10,
		"1GiB": 1 << 30, "512B": 512, "10MB": 10_000_000}
	for in, want := range tests {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	if _, err := parseSize("12"); err == nil {
		t.Error("a size without a unit was accepted")
	}
}

func TestNum(t *testing.T) {
	tests := map[float64]string{0: "0", 12.34: "12.3", 999.6: "1,000", 1234567: "1,234,567", 20000: "20,000"}
	for in, want := range tests {
		if got := num(in); got != want {
			t.Errorf("num(%v) = %q, want %q", in, got, want)
		}
	}
}

func TestChartIsWellFormedSVG(t *testing.T) {
	c := barChart{Title: "votes/s <c=32> & more", Unit: "votes per second", Target: 20000, TargetLabel: "target 20,000",
		Rows: []bar{{Label: "ceiling", Value: 14000, Text: "14,000", Muted: true}, {Label: "vote", Value: 10000, Text: "10,000"}}}
	d := xml.NewDecoder(strings.NewReader(c.svg()))
	for {
		_, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed: %v", err)
		}
	}
	for _, v := range []float64{0.3, 7, 13, 99, 101, 2400, 20000, 73000} {
		if n := niceCeil(v); n < v || n > 2.5*v {
			t.Errorf("niceCeil(%v) = %v", v, n)
		}
	}
}

func TestParseFlags(t *testing.T) {
	cfg, err := parseFlags([]string{"-only", "vote,e2e", "-vote-trials", "2"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.runs("vote") || !cfg.runs("e2e") || cfg.runs("drain") || cfg.voteTrials != 2 {
		t.Fatalf("got %+v", cfg)
	}
	for _, bad := range [][]string{{"-only", "nope"}, {"-drain-voters", "0"}, {"-fanout-streams", "100000"}, {"extra"}} {
		if _, err := parseFlags(bad, io.Discard); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

// The report renders from a results file alone, whatever sections it holds.
func TestWriteReport(t *testing.T) {
	dir := t.TempDir()
	r := sampleResults()
	if err := writeReport(r, dir+"/bench.md"); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"bench.md", "bench-vote.svg", "bench-drain.svg", "bench-e2e.svg", "bench-footprint.svg"} {
		if _, err := readFile(dir + "/" + name); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	md, _ := readFile(dir + "/bench.md")
	for _, want := range []string{
		"| 1 | vote, POST / at c=32", "**missed**", "go run ./bench -only vote",
		"What stands between", "| 2 | tallies exact after every drain | yes |", "off boundary",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	// Only some sections: still renders.
	if err := writeReport(&results{Load: map[string]float64{}}, dir+"/empty.md"); err != nil {
		t.Fatal(err)
	}
}

func sampleResults() *results {
	cpu := cpuShare{Seconds: 8, Cores: map[string]float64{"server": 0.8, "redis": 0.2, "loadgen": 0.9}, Busy: 1.9, NumCPU: 2}
	vs := func(name string, tput float64) voteServer {
		return voteServer{Server: name, Throughput: tput, Ratio: tput / 14000, P50: 2, P99: 11, CPU: maps.Clone(cpu.Cores), RSS: 20 << 20}
	}
	return &results{
		Started: time.Unix(1_700_000_000, 0).UTC(), Seconds: 600, Revision: "abc", Load: map[string]float64{"vote": 1.2},
		Host: host{NumCPU: 2, Go: "go1.26"},
		Vote: &voteResult{Concurrency: 32, Duration: 8, Command: "loadgen -target …",
			Trials:  []voteTrial{{Server: "ceiling"}, {Server: "vote"}, {Server: "vote-quiet"}},
			Servers: []voteServer{vs("ceiling", 14000), vs("vote", 10000), vs("vote-quiet", 10800)}},
		Drain: &drainResult{Entries: 1000, Voters: 200, BatchSize: 1000, Expected: map[string]int64{"a": 130, "b": 70},
			Runs: []drainRun{{Name: "worker", VotesPS: 60000, Exact: true, CPU: cpu}, {Name: "ceiling", VotesPS: 90000, Exact: true, CPU: cpu},
				{Name: "worker", Durable: true, VotesPS: 30000, Exact: true, CPU: cpu}}},
		E2E: []e2eResult{{Name: "defaults", Settings: "as deployed", Rate: 1000, Visible: latencySummary{P99: 260}, CPU: cpu},
			{Name: "throttle-50ms", Settings: "TALLY_MIN_INTERVAL=50ms", Rate: 1000, Visible: latencySummary{P99: 60}, CPU: cpu}},
		FanOut: &fanOutResult{Streams: 5000, Seconds: 30, QueriesPS: 4, CPU: cpu, RSS: memStats{Max: 150 << 20}},
		Footprint: &footprintResult{Idle: map[string]int64{"vote": 9 << 20, "worker": 16 << 20}, Ready: map[string]float64{"vote": 0.05},
			Loaded: map[string]map[string]int64{"vote": {"vote": 20 << 20}}, Healthy: map[string]float64{"vote": 5.5}},
		Micro:    &microResult{Count: 1, Benchtime: "1x", Benchmarks: []benchLine{{Package: "vote", Name: "BenchmarkVote", NsOp: 1000, Command: "go test …"}}},
		Profiles: &profileResult{Profiles: []profile{{Name: "vote-cpu", Total: "1s", Top: []topLine{{Flat: "1s", FlatPct: 50, Func: "f"}}}}},
	}
}

func readFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	return string(b), err
}

func TestPairedRatio(t *testing.T) {
	tr := func(trial int, server string, vps float64) voteTrial {
		var l loadgenReport
		l.AcceptedPerSecond = vps
		return voteTrial{Server: server, Trial: trial, Load: l}
	}
	trials := []voteTrial{
		tr(1, "ceiling", 10000), tr(1, "vote", 8000),
		tr(2, "ceiling", 5000), tr(2, "vote", 4500), // a busy moment: both slower, the ratio holds
		tr(3, "ceiling", 10000), tr(3, "vote", 7000),
	}
	if got := pairedRatio(trials, "vote", "ceiling"); got != 0.8 {
		t.Fatalf("ratio %v, want 0.8", got)
	}
}

func TestParseResident(t *testing.T) {
	r, err := parseResident("VmRSS:\t   15892 kB\nRssAnon:\t    2352 kB\nRssFile:\t   13540 kB\nRssShmem:\t       0 kB\n")
	if err != nil || r.RSS != 15892<<10 || r.Anon != 2352<<10 || r.File != 13540<<10 {
		t.Fatalf("%+v %v", r, err)
	}
}

func TestComposeMemLimit(t *testing.T) {
	path := t.TempDir() + "/compose.yml"
	os.WriteFile(path, []byte("services:\n  vote:\n    mem_limit: 128m\n  result:\n    image: x\n    mem_limit: 256m\n  db:\n    mem_limit: 512m\n"), 0o644)
	if got := composeMemLimit(path, "result"); got != "256m" {
		t.Fatalf("result: %q", got)
	}
	if got := composeMemLimit(path, "worker"); got != "" {
		t.Fatalf("worker: %q", got)
	}
}
