package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// readStream opens the result service's event stream at base (http://host:port) and calls seen
// with the receive time and total of every tally event, until ctx ends or the stream fails. It
// speaks HTTP/1.1 on a raw connection, as a browser's EventSource does, with nothing buffered
// between the socket and the clock.
func readStream(ctx context.Context, base string, seen func(at time.Time, total int64)) error {
	addr := strings.TrimPrefix(base, "http://")
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	defer conn.Close()
	fmt.Fprintf(conn, "GET /events HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\n\r\n", addr)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /events: %s", resp.Status)
	}
	body := bufio.NewReader(resp.Body)
	for {
		line, err := body.ReadString('\n')
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("stream ended: %w", err)
		}
		at := time.Now()
		total, ok := eventTotal(line)
		if ok {
			seen(at, total)
		}
	}
}

// eventTotal reads the total from a "data:" line of a tally event.
func eventTotal(line string) (int64, bool) {
	data, ok := strings.CutPrefix(line, "data: ")
	if !ok {
		return 0, false
	}
	_, rest, ok := strings.Cut(data, `"total":`)
	if !ok {
		return 0, false
	}
	end := strings.IndexAny(rest, ",}")
	if end < 0 {
		return 0, false
	}
	n, err := strconv.ParseInt(rest[:end], 10, 64)
	return n, err == nil
}

// streamsCommand is the hidden subcommand that plays many browsers for the fan-out benchmark, in
// a process of its own so that its CPU and open files are not the benchmark's or the service's.
const streamsCommand = "streams"

// streamsReport is what the streams process prints when its standard input closes.
type streamsReport struct {
	Streams    int            `json:"streams"`
	OpenMs     float64        `json:"open_ms"`
	Deliveries int            `json:"deliveries"` // events received after the mark
	Tallies    int            `json:"tallies"`    // distinct totals received after the mark
	Missed     int            `json:"missed"`     // (stream, total) pairs another stream got and this one never did
	Lag        latencySummary `json:"lag"`        // receive time less the first receive time of the same total
	First      [][2]int64     `json:"first"`      // total, first receive time (Unix ns), in order of total
	Errors     []string       `json:"errors,omitempty"`
}

// runStreams opens -n streams to -url, 64 dials at a time, prints "ready" once every stream has its
// first tally, then "mark" on standard input starts the window, and end of input ends it and
// prints the report as JSON.
func runStreams(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet(streamsCommand, flag.ContinueOnError)
	url := fs.String("url", "", "base URL of the result service")
	n := fs.Int("n", 1000, "streams to open")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var (
		mu       sync.Mutex
		mark     int64 // Unix ns; 0 until the mark
		got      = make([][]receipt, *n)
		started  int
		readyc   = make(chan struct{})
		errs     []string
		failures int
	)
	start := time.Now()
	dials := make(chan struct{}, 64)
	var wg sync.WaitGroup
	for i := range *n {
		dials <- struct{}{}
		wg.Go(func() {
			first := true
			err := readStream(ctx, *url, func(at time.Time, total int64) {
				mu.Lock()
				defer mu.Unlock()
				if first {
					first = false
					<-dials
					started++
					if started == *n {
						close(readyc)
					}
				}
				if mark != 0 {
					got[i] = append(got[i], receipt{total, at.UnixNano()})
				}
			})
			if err != nil {
				mu.Lock()
				if first {
					<-dials
				}
				failures++
				if len(errs) < 10 {
					errs = append(errs, err.Error())
				}
				mu.Unlock()
			}
		})
	}
	select {
	case <-readyc:
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(2 * time.Minute):
		return fmt.Errorf("streams: only %d of %d open after 2 minutes: %v", started, *n, errs)
	}
	open := time.Since(start)
	fmt.Fprintln(stdout, "ready")

	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		if in.Text() == "mark" {
			mu.Lock()
			mark = time.Now().UnixNano()
			mu.Unlock()
		}
	}
	mu.Lock()
	streams := got
	got = nil
	mark = 0
	mu.Unlock()
	cancel()

	rep := summarizeStreams(streams)
	rep.Streams = *n
	rep.OpenMs = ms(open)
	rep.Errors = errs
	if failures > 0 {
		rep.Errors = append(rep.Errors, fmt.Sprintf("%d streams failed", failures))
	}
	return json.NewEncoder(stdout).Encode(rep)
}

// receipt is one tally event received on one stream.
type receipt struct {
	total int64
	at    int64 // Unix ns: compared across processes
}

// summarizeStreams turns every stream's receipts into delivery lags: each receipt's time less the
// earliest receipt of the same total on any stream. A total some stream received and another did
// not counts as missed for the other: its one-slot mailbox held a newer tally by the time it read.
func summarizeStreams(streams [][]receipt) streamsReport {
	first := map[int64]int64{}
	for _, rs := range streams {
		for _, r := range rs {
			if f, ok := first[r.total]; !ok || r.at < f {
				first[r.total] = r.at
			}
		}
	}
	var rep streamsReport
	var lags latencies
	for _, rs := range streams {
		for _, r := range rs {
			lags = append(lags, time.Duration(r.at-first[r.total]))
		}
		rep.Missed += len(first) - len(rs)
	}
	rep.Deliveries = len(lags)
	rep.Tallies = len(first)
	rep.Lag = lags.summary()
	for _, t := range sortedInts(first) {
		rep.First = append(rep.First, [2]int64{t, first[t]})
	}
	return rep
}

func sortedInts[V any](m map[int64]V) []int64 {
	keys := make([]int64, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
