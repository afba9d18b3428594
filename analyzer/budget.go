package main

import (
	"sync"
	"time"
)

// computeBudget bounds the share of time the analyzer spends computing answers, whatever the mix
// of questions: a token bucket of computing time that refills at perSecond each second, up to
// burst. A computation may start while the bucket is not empty and pays for its whole duration when
// it ends, so a slow one (a database busy with the worker's commits) costs more and the analyzer
// backs off further. MAX_INFLIGHT bounds how many run at once; this bounds how much they run.
type computeBudget struct {
	perSecond time.Duration // refill per second of wall time
	burst     time.Duration
	now       func() time.Time

	mu    sync.Mutex
	level time.Duration
	at    time.Time
}

func newComputeBudget(perSecond, burst time.Duration, now func() time.Time) *computeBudget {
	return &computeBudget{perSecond: perSecond, burst: burst, now: now, level: burst, at: now()}
}

// allow reports whether a computation may start now, and if not, how long until one may.
func (b *computeBudget) allow() (bool, time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refill()
	if b.level > 0 {
		return true, 0
	}
	deficit := -b.level + time.Nanosecond
	return false, time.Duration(float64(deficit) * float64(time.Second) / float64(b.perSecond))
}

// spend charges a finished computation.
func (b *computeBudget) spend(d time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refill()
	b.level -= d
}

func (b *computeBudget) refill() {
	now := b.now()
	if elapsed := now.Sub(b.at); elapsed > 0 {
		b.level = min(b.burst, b.level+time.Duration(float64(elapsed)*float64(b.perSecond)/float64(time.Second)))
	}
	b.at = now
}
