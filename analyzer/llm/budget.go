package llm

import (
	"sync"
	"time"
)

// Budget caps the calls started in any sliding minute: at most n, however they are spread. A token
// bucket (golang.org/x/time/rate) averages n a minute but lets 2n-1 start within one minute (a
// full bucket spent at once, then refilled as it goes); a budget someone pays for is a hard cap, so
// Budget keeps the start times of the last n calls instead: 24 bytes a call of the budget.
type Budget struct {
	now func() time.Time

	mu     sync.Mutex
	starts []time.Time // ring of the last len(starts) grants; starts[next] is the oldest of them
	next   int
	filled bool // every slot of starts holds a grant
}

// NewBudget returns a budget of n calls a minute on the clock now. With n < 1 it grants nothing.
func NewBudget(n int, now func() time.Time) *Budget {
	return &Budget{now: now, starts: make([]time.Time, max(n, 0))}
}

// Allow takes one call from the budget and reports whether there was one left: false when n calls
// were granted in the minute before now.
func (b *Budget) Allow() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.starts) == 0 {
		return false
	}
	t := b.now()
	// A clock that steps back makes the oldest grant look recent: the budget errs on refusing.
	if b.filled && t.Sub(b.starts[b.next]) < time.Minute {
		return false
	}
	b.starts[b.next] = t
	b.next++
	if b.next == len(b.starts) {
		b.next, b.filled = 0, true
	}
	return true
}
