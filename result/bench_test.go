package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-voting-app/voting-app/platform/ballot"
	"github.com/go-voting-app/voting-app/testkit"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// The benchmarks measure one instance holding many browsers' streams. They start their own
// database and open the streams from a child process (this test binary again, see TestMain), so
// that the instance's process holds only its own end of each connection; a process here may open
// about 20,000 files. RESULT_BENCH_STREAMS sets the number of streams (default 1,000):
//
//	go test -run '^$' -bench FanOut -benchtime 200x ./result/
//	RESULT_BENCH_STREAMS=10000 go test -run '^$' -bench Sustained -benchtime 20s ./result/

// Environment of the child process that plays the browsers.
const (
	envStreamsOf    = "RESULT_BENCH_STREAMS_OF"    // base URL of the instance
	envStreamsCount = "RESULT_BENCH_STREAMS_COUNT" // how many streams to open
)

// BenchmarkFanOut: one committed vote per operation, timed until every stream has the new tally.
// The throttle is short here (10 ms) so the time is the fan-out, not the wait for the interval.
func BenchmarkFanOut(b *testing.B) {
	n := benchStreams(b)
	cfg := benchStackConfig(n)
	cfg.feed.MinInterval = 10 * time.Millisecond
	s, db, lines := benchInstance(b, cfg, n)
	q0 := s.totalQueries()
	var i int
	for b.Loop() {
		i++
		vote(b, db, "v"+strconv.Itoa(i), "a")
		waitAll(b, lines, int64(i))
	}
	b.ReportMetric(float64(n), "streams")
	b.ReportMetric((s.totalQueries()-q0)/float64(i), "queries/op")
	reportHeap(b, n)
}

// BenchmarkSustained: votes are committed back to back for the whole benchtime while every stream
// is open, with the production throttle (250 ms). It reports the query rate the instance puts on
// the database meanwhile, and the events it delivers.
func BenchmarkSustained(b *testing.B) {
	n := benchStreams(b)
	s, db, lines := benchInstance(b, benchStackConfig(n), n)
	q0, e0 := s.totalQueries(), testutil.ToFloat64(s.metrics.eventsSent)
	start := time.Now()
	var i int
	for b.Loop() {
		i++
		vote(b, db, "v"+strconv.Itoa(i), "b")
	}
	elapsed := time.Since(start)
	waitAll(b, lines, int64(i)) // every stream ends on the final tally
	if got := testutil.ToFloat64(s.metrics.clients); got != float64(n) {
		b.Fatalf("instance holds %v streams, want %d", got, n)
	}
	b.ReportMetric(float64(n), "streams")
	b.ReportMetric(float64(i)/elapsed.Seconds(), "commits/s")
	b.ReportMetric((s.totalQueries()-q0)/elapsed.Seconds(), "queries/s")
	b.ReportMetric((testutil.ToFloat64(s.metrics.eventsSent)-e0)/elapsed.Seconds(), "events/s")
	reportHeap(b, n)
}

func benchStreams(b *testing.B) int {
	n := 1000
	if v := os.Getenv("RESULT_BENCH_STREAMS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			b.Fatalf("RESULT_BENCH_STREAMS=%q", v)
		}
	}
	return n
}

func benchStackConfig(n int) stackConfig {
	cfg := defaultStackConfig()
	cfg.feed.MinInterval = 250 * time.Millisecond
	cfg.feed.Recheck = 10 * time.Second
	cfg.stream.Heartbeat = 15 * time.Second
	cfg.maxStreams = n
	return cfg
}

// benchInstance starts an instance on a fresh database and n streams against it, and returns once
// every stream has received the first tally. lines carries the child's reports.
func benchInstance(b *testing.B, cfg stackConfig, n int) (*stack, *pgxpool.Pool, <-chan string) {
	b.Helper()
	url := testkit.Postgres(b)
	db := migratedDB(b, url)
	s := startStack(b, url, cfg)
	s.waitReady(b)

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envStreamsOf+"="+s.srv.URL, envStreamsCount+"="+strconv.Itoa(n))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	// Registered after the stack's cleanups, so it runs before them: the streams end first.
	b.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	lines := make(chan string, 1024)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	start := time.Now()
	waitAll(b, lines, 0)
	b.Logf("%d streams open in %s", n, time.Since(start).Round(time.Millisecond))
	return s, db, lines
}

// waitAll waits for the child's report that every stream has received a tally with this total.
func waitAll(b *testing.B, lines <-chan string, total int64) {
	b.Helper()
	want := "all " + strconv.FormatInt(total, 10)
	timeout := time.After(2 * time.Minute)
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				b.Fatal("the stream process ended")
			}
			if line == want {
				return
			}
			if strings.HasPrefix(line, "error") {
				b.Fatal(line)
			}
		case <-timeout:
			b.Fatalf("not every stream saw total %d within 2 minutes", total)
		}
	}
}

func reportHeap(b *testing.B, n int) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.HeapInuse)/float64(n)/1024, "heap-KiB/stream")
	b.ReportMetric(float64(runtime.NumGoroutine()), "goroutines")
}

// runStreams is the child process of the benchmarks: it opens count streams on base and prints
// "all N" when every stream has received a tally with total N, or "error ..." and exits.
func runStreams(base string, count int, out io.Writer) int {
	addr := strings.TrimPrefix(base, "http://")
	var (
		mu   sync.Mutex
		seen = map[int64]int{}
	)
	saw := func(total int64) {
		mu.Lock()
		defer mu.Unlock()
		seen[total]++
		if seen[total] == count {
			delete(seen, total)
			fmt.Fprintf(out, "all %d\n", total)
		}
	}
	fail := func(err error) {
		mu.Lock()
		fmt.Fprintf(out, "error: %v\n", err)
		os.Exit(1)
	}
	dials := make(chan struct{}, 64) // open streams 64 at a time, like a crowd, not a flood
	var wg sync.WaitGroup
	for range count {
		dials <- struct{}{}
		wg.Go(func() {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				fail(err)
			}
			fmt.Fprintf(conn, "GET /events HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\n\r\n")
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			<-dials
			if err != nil {
				fail(err)
			}
			if resp.StatusCode != http.StatusOK {
				fail(fmt.Errorf("GET /events: %s", resp.Status))
			}
			body := bufio.NewReader(resp.Body)
			for {
				line, err := body.ReadString('\n')
				if err != nil {
					fail(fmt.Errorf("stream ended: %w", err))
				}
				if !strings.HasPrefix(line, "data: ") {
					continue
				}
				_, rest, ok := strings.Cut(line, `"total":`)
				if !ok {
					continue
				}
				end := strings.IndexByte(rest, ',')
				total, err := strconv.ParseInt(rest[:max(end, 0)], 10, 64)
				if err != nil {
					fail(fmt.Errorf("bad event %q", line))
				}
				saw(total)
			}
		})
	}
	wg.Wait()
	return 0
}

// BenchmarkBrokerPublish: the cost of handing one new tally to every subscriber's mailbox, without
// the network; the mailboxes are never emptied, so each offer also replaces the older tally.
func BenchmarkBrokerPublish(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run("subscribers="+strconv.Itoa(n), func(b *testing.B) {
			br := newBroker(n, 0, newMetrics(prometheus.NewRegistry()))
			for range n {
				if _, err := br.Subscribe(netip.Addr{}); err != nil {
					b.Fatal(err)
				}
			}
			opts := testOptions(b)
			var i int64
			for b.Loop() {
				i++
				br.Publish(ballot.NewTally(opts, map[string]int64{"a": i}))
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(i)/float64(n), "ns/subscriber")
		})
	}
}

// BenchmarkSnapshot is the encoding of one new tally, done once per change for every stream: the
// JSON document, its content hash (the event id) and the SSE event.
func BenchmarkSnapshot(b *testing.B) {
	opts := testOptions(b)
	t := ballot.NewTally(opts, map[string]int64{"a": 123_456, "b": 98_765})
	b.ReportAllocs()
	for b.Loop() {
		if s := newSnapshot(t, nil); len(s.Event) == 0 {
			b.Fatal("empty event")
		}
	}
}

// BenchmarkEventEncode is the SSE framing of a tally document alone.
func BenchmarkEventEncode(b *testing.B) {
	e := event{ID: "2c1r1osbplq50", Name: "tally",
		Data: `{"options":[{"key":"a","label":"Cats","votes":123456,"percent":56},{"key":"b","label":"Dogs","votes":98765,"percent":44}],"total":222221,"summary":"222,221 votes"}`}
	b.ReportAllocs()
	for b.Loop() {
		if len(e.encode()) == 0 {
			b.Fatal("empty")
		}
	}
}
