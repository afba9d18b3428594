// Package backoff is how the services wait: sleeps that end when the context does, and
// exponential delays with jitter between attempts at a dependency that is down.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Sleep waits for d or until ctx is done; it reports whether the full wait happened.
func Sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Backoff hands out delays that double from Min up to Max. Half of each delay is random, so that
// replicas which lost a dependency together do not come back in lockstep. The zero value is not
// useful; set Min and Max.
type Backoff struct {
	Min, Max time.Duration
	next     time.Duration
}

// Next returns the delay before the next attempt.
func (b *Backoff) Next() time.Duration {
	if b.next < b.Min {
		b.next = b.Min
	}
	d := b.next
	b.next = min(b.next*2, b.Max)
	return d/2 + rand.N(d/2+1)
}

// Wait sleeps for the next delay; it reports false when ctx ended the wait.
func (b *Backoff) Wait(ctx context.Context) bool { return Sleep(ctx, b.Next()) }

// Reset starts again from Min, after a success.
func (b *Backoff) Reset() { b.next = 0 }
