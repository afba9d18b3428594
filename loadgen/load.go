package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-voting-app/voting-app/platform/backoff"

	"github.com/go-voting-app/voting-app/loadgen/internal/latency"
	"github.com/go-voting-app/voting-app/loadgen/internal/ledger"
	"github.com/go-voting-app/voting-app/loadgen/internal/plan"
	"github.com/go-voting-app/voting-app/platform/ballot"
)

// load casts a plan's votes with a fixed number of workers, either as fast as they can (closed
// loop) or on a schedule (open loop).
type load struct {
	box         *ballotBox
	plan        *plan.Plan
	ledger      *ledger.Ledger
	concurrency int
	rate        float64       // votes/s; 0 for closed loop
	duration    time.Duration // 0 for no limit
	progress    time.Duration // 0 for no progress lines
	stderr      io.Writer

	planMu  sync.Mutex
	claimed int64 // votes taken from the plan

	hist  *latency.Histogram // set by the caller
	stats stats
}

// stats are the counters of a run; every field is updated concurrently.
type stats struct {
	sent, accepted, rejected, unknown atomic.Int64
	firsts, changes                   atomic.Int64
	forA, forB                        atomic.Int64
	maxLag                            atomic.Int64 // open loop: most a vote was sent after its time, ns

	mu   sync.Mutex
	errs map[string]int64 // by kind
}

func (s *stats) fail(kind string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.errs == nil {
		s.errs = make(map[string]int64)
	}
	s.errs[kind]++
}

func (s *stats) errors() map[string]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.errs)
}

// run casts votes until the plan ends, the duration passes or ctx is cancelled, then waits for the
// votes in flight (each bounded by the request timeout) and returns how long the run took. Votes
// in flight are not cancelled with ctx: a cancelled vote has an unknown outcome, and the ledger
// is more useful exact.
func (l *load) run(ctx context.Context) time.Duration {
	start := time.Now()
	var deadline time.Time
	if l.duration > 0 {
		deadline = start.Add(l.duration)
	}
	stopProgress := l.reportProgress(start)
	var wg sync.WaitGroup
	for range l.concurrency {
		wg.Go(func() {
			for {
				v, due, ok := l.claim(ctx, start, deadline)
				if !ok {
					return
				}
				l.cast(ctx, v, due)
			}
		})
	}
	wg.Wait()
	stopProgress()
	return time.Since(start)
}

// claim takes the next vote of the plan and, in the open loop, the time it is due; false means
// the run is over: the plan ended, ctx was cancelled, or the next vote is due after the deadline.
func (l *load) claim(ctx context.Context, start, deadline time.Time) (plan.Vote, time.Time, bool) {
	if ctx.Err() != nil || (!deadline.IsZero() && !time.Now().Before(deadline)) {
		return plan.Vote{}, time.Time{}, false
	}
	l.planMu.Lock()
	defer l.planMu.Unlock()
	var due time.Time
	if l.rate > 0 {
		due = start.Add(time.Duration(float64(l.claimed) / l.rate * float64(time.Second)))
		if !deadline.IsZero() && !due.Before(deadline) {
			return plan.Vote{}, time.Time{}, false
		}
	}
	v, ok := l.plan.Next()
	if !ok {
		return plan.Vote{}, time.Time{}, false
	}
	l.claimed++
	return v, due, true
}

// cast sends a vote when it is due (at once in the closed loop, where due is zero) and records
// what came of it. In the open loop the latency is measured from when the vote was due, not from
// when it was sent: a stalled service delays the votes behind it, and leaving that wait out would
// hide the stall (coordinated omission).
func (l *load) cast(ctx context.Context, v plan.Vote, due time.Time) {
	if l.rate > 0 && !backoff.Sleep(ctx, time.Until(due)) {
		return
	}
	voter := l.ledger.Voter(v.Voter)
	// One vote per voter in flight: the order the service sees a voter's votes is then the order
	// the ledger records them. The wait for the lock counts in the open loop's latency.
	voter.Lock()
	defer voter.Unlock()
	sent := time.Now()
	if l.rate > 0 {
		l.stats.noteLag(sent.Sub(due))
	} else {
		due = sent
	}
	id := voter.ID()
	r := l.box.cast(context.WithoutCancel(ctx), id, v.Option)
	if r.responded {
		l.hist.Record(time.Since(due))
	}
	switch {
	case r.voterID == "" || r.voterID == id:
		l.ledger.Record(voter, v.Option, r.outcome)
	case id == "":
		voter.SetID(r.voterID)
		l.ledger.Record(voter, v.Option, r.outcome)
	default:
		// The service did not take the id it was sent and named a new voter: the vote, if it
		// counted, counted for someone the plan does not know.
		l.ledger.RecordUnnamed(v.Option, r.outcome)
		r.kind = "voter_id_replaced"
	}
	l.stats.count(v, r)
}

func (s *stats) count(v plan.Vote, r castResult) {
	s.sent.Add(1)
	if v.Change {
		s.changes.Add(1)
	} else {
		s.firsts.Add(1)
	}
	if v.Option == ballot.KeyA {
		s.forA.Add(1)
	} else {
		s.forB.Add(1)
	}
	switch r.outcome {
	case ledger.Accepted:
		s.accepted.Add(1)
	case ledger.Rejected:
		s.rejected.Add(1)
	default:
		s.unknown.Add(1)
	}
	if r.kind != "" {
		s.fail(r.kind)
	}
}

func (s *stats) noteLag(d time.Duration) {
	for {
		cur := s.maxLag.Load()
		if int64(d) <= cur || s.maxLag.CompareAndSwap(cur, int64(d)) {
			return
		}
	}
}

func (s *stats) maxLagDuration() time.Duration { return time.Duration(s.maxLag.Load()) }

// reportProgress writes a line to stderr every interval until the returned stop is called.
func (l *load) reportProgress(start time.Time) (stop func()) {
	if l.progress <= 0 {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(l.progress)
		defer t.Stop()
		last, lastAt := int64(0), start
		for {
			select {
			case <-done:
				return
			case now := <-t.C:
				sent := l.stats.sent.Load()
				fmt.Fprintf(l.stderr, "loadgen: %s: %d votes sent (%.0f/s now), %d accepted, %d rejected, %d unknown\n",
					now.Sub(start).Round(time.Second), sent, float64(sent-last)/now.Sub(lastAt).Seconds(),
					l.stats.accepted.Load(), l.stats.rejected.Load(), l.stats.unknown.Load())
				last, lastAt = sent, now
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}
