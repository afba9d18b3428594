package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/go-voting-app/voting-app/loadgen/internal/latency"
	"github.com/go-voting-app/voting-app/loadgen/internal/ledger"
)

// report is everything a run found; -json prints it as is, for benchmarks to parse.
type report struct {
	Target      string  `json:"target"`
	API         string  `json:"api"`
	IDs         string  `json:"ids"`
	Loop        string  `json:"loop"`           // "closed" or "open"
	Rate        float64 `json:"rate,omitempty"` // open loop: votes/s asked for
	Concurrency int     `json:"concurrency"`
	Seed        uint64  `json:"seed"`
	Voters      int     `json:"voters"`
	Planned     int     `json:"planned"` // votes in the plan; 0 for no limit
	Interrupted bool    `json:"interrupted,omitempty"`

	Seconds           float64          `json:"seconds"`
	Sent              int64            `json:"sent"`
	Accepted          int64            `json:"accepted"`
	Rejected          int64            `json:"rejected"`
	Unknown           int64            `json:"unknown"`
	FirstVotes        int64            `json:"first_votes"`
	Changes           int64            `json:"changes"`
	ByOption          map[string]int64 `json:"by_option"`  // votes sent per option
	Throughput        float64          `json:"throughput"` // votes sent per second
	AcceptedPerSecond float64          `json:"accepted_per_second"`
	Latency           latencyReport    `json:"latency"`
	Errors            map[string]int64 `json:"errors"` // by kind: http_503, timeout, connection_refused, …

	Expected expected      `json:"expected"`
	Verify   *verification `json:"verify,omitempty"`
}

// latencyReport is in milliseconds.
type latencyReport struct {
	From  string  `json:"from"`  // "send" (closed loop) or "schedule" (open loop)
	Count int64   `json:"count"` // votes that got a response; failed connections have no latency
	Min   float64 `json:"min_ms"`
	Mean  float64 `json:"mean_ms"`
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P99   float64 `json:"p99_ms"`
	P999  float64 `json:"p99_9_ms"`
	Max   float64 `json:"max_ms"`
	// MaxLag is, in the open loop, the most a vote was sent after it was due: more than a few
	// milliseconds means the workers could not keep up (raise -concurrency).
	MaxLag float64 `json:"max_lag_ms,omitempty"`
}

// expected is the expectation without its per-voter maps, which go to the -expect file.
type expected struct {
	Counts map[string]int64        `json:"counts"`
	Bounds map[string]ledger.Bound `json:"bounds"`
	Total  ledger.Bound            `json:"total"`
	Exact  bool                    `json:"exact"`
}

func newLatencyReport(s latency.Summary, openLoop bool, maxLag time.Duration) latencyReport {
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	r := latencyReport{From: "send", Count: s.Count, Min: ms(s.Min), Mean: ms(s.Mean), P50: ms(s.P50),
		P90: ms(s.P90), P99: ms(s.P99), P999: ms(s.P999), Max: ms(s.Max)}
	if openLoop {
		r.From, r.MaxLag = "schedule", ms(maxLag)
	}
	return r
}

func (r *report) writeJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

func (r *report) writeText(w io.Writer) {
	ids := "made here"
	if r.IDs == idsServer {
		ids = "issued by the service"
	}
	fmt.Fprintf(w, "target    %s (%s votes, voter ids %s, seed %d)\n", r.Target, r.API, ids, r.Seed)
	if r.Loop == "open" {
		fmt.Fprintf(w, "load      open loop at %g votes/s, %d in flight at most\n", r.Rate, r.Concurrency)
	} else {
		fmt.Fprintf(w, "load      closed loop, %d in flight\n", r.Concurrency)
	}
	interrupted := ""
	if r.Interrupted {
		interrupted = " (interrupted)"
	}
	fmt.Fprintf(w, "votes     %d sent in %s%s: %d accepted, %d rejected, %d unknown outcome\n",
		r.Sent, short(seconds(r.Seconds)), interrupted, r.Accepted, r.Rejected, r.Unknown)
	fmt.Fprintf(w, "mix       %d voters: %d first votes, %d changes; %s\n", r.Voters, r.FirstVotes, r.Changes, shares(r.ByOption, r.Sent))
	fmt.Fprintf(w, "rate      %.1f votes/s sent, %.1f/s accepted\n", r.Throughput, r.AcceptedPerSecond)
	l := r.Latency
	msd := func(ms float64) string { return short(time.Duration(ms * float64(time.Millisecond))) }
	fmt.Fprintf(w, "latency   p50 %s  p90 %s  p99 %s  p99.9 %s  max %s  (mean %s; %d responses, timed from %s)\n",
		msd(l.P50), msd(l.P90), msd(l.P99), msd(l.P999), msd(l.Max), msd(l.Mean), l.Count, l.From)
	if r.Loop == "open" {
		fmt.Fprintf(w, "schedule  sent at most %s after due\n", msd(l.MaxLag))
	}
	fmt.Fprintf(w, "errors    %s\n", counts(r.Errors, "none"))
	e := r.Expected
	if e.Exact {
		fmt.Fprintf(w, "expected  %s total=%d (exact)\n", counts(e.Counts, ""), e.Total.Min)
	} else {
		var b []string
		for _, k := range slices.Sorted(maps.Keys(e.Bounds)) {
			b = append(b, fmt.Sprintf("%s=%s", k, e.Bounds[k]))
		}
		fmt.Fprintf(w, "expected  %s total=%s (ranges: %d votes with unknown outcome)\n", strings.Join(b, " "), e.Total, r.Unknown)
	}
	if v := r.Verify; v != nil {
		tally := counts(subtract(v.Tally, v.Baseline), "no tally read")
		if v.OK {
			fmt.Fprintf(w, "verify    ok after %s: this run's votes %s (tally less the baseline %s)\n",
				short(seconds(v.Seconds)), tally, counts(v.Baseline, "none"))
		} else {
			fmt.Fprintf(w, "verify    FAILED after %s: %s\n", short(seconds(v.Seconds)), strings.Join(v.Problems, "; "))
		}
		fmt.Fprintf(w, "          checked: %s\n", v.Checked)
	}
}

// counts writes a map as "k=v k=v" in key order, or empty when it has no entries.
func counts(m map[string]int64, empty string) string {
	if len(m) == 0 {
		return empty
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
	}
	return strings.Join(parts, " ")
}

// shares writes "a 5987 (59.9%), b 4013 (40.1%)".
func shares(m map[string]int64, total int64) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		pct := 0.0
		if total > 0 {
			pct = 100 * float64(m[k]) / float64(total)
		}
		parts = append(parts, fmt.Sprintf("%s %d (%.1f%%)", k, m[k], pct))
	}
	return strings.Join(parts, ", ")
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// short rounds a duration to three significant digits: 1.23ms, 45.6ms, 2.01s.
func short(d time.Duration) string {
	switch {
	case d <= 0:
		return "0s"
	case d < time.Microsecond:
		return d.String()
	}
	unit := time.Duration(1)
	for d/unit >= 1000 {
		unit *= 10
	}
	return d.Round(unit).String()
}
