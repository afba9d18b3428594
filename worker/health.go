package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-voting-app/voting-app/platform/queue"
)

// health is whether this worker makes progress, for /readyz. It is not ready while a dependency
// refuses for a reason that waiting will not cure (a missing permission, a missing table, a wrong
// password: a person must act), and once it has committed nothing for stallAfter while entries
// wait for it: its own pending ones, or ones no consumer has read. Then the image's healthcheck
// turns unhealthy and an orchestrator can act, while the worker keeps retrying and loses nothing.
type health struct {
	stallAfter time.Duration

	mu           sync.Mutex
	blocked      map[string]string // dependency → why it refuses
	lastCommit   time.Time
	waitingSince time.Time // zero while nothing waits for this worker
	waiting      queue.Backlog
}

func newHealth(stallAfter time.Duration, now time.Time) *health {
	return &health{stallAfter: stallAfter, blocked: map[string]string{}, lastCommit: now}
}

func (h *health) block(dependency, reason string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.blocked[dependency] = reason
}

func (h *health) unblock(dependency string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.blocked, dependency)
}

func (h *health) committed(at time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.lastCommit = at
}

// observe records the backlog the monitor read at a moment.
func (h *health) observe(b queue.Backlog, at time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	waits := b.Own > 0 || b.Undelivered || b.Inbox > 0
	switch {
	case !waits:
		h.waitingSince = time.Time{}
	case h.waitingSince.IsZero():
		h.waitingSince = at
	}
	h.waiting = b
}

// stalled returns why the worker is stalled at now, or "".
func (h *health) stalled(now time.Time) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.waitingSince.IsZero() || now.Sub(h.waitingSince) < h.stallAfter || now.Sub(h.lastCommit) < h.stallAfter {
		return ""
	}
	return fmt.Sprintf("stalled: nothing committed for %s while entries wait (%d held by this worker, %d pending in all, "+
		"%d not yet read, %d on the inbox)", now.Sub(h.lastCommit).Round(time.Second), h.waiting.Own, h.waiting.Pending,
		max(h.waiting.Lag, 0), h.waiting.Inbox)
}

// Check is the readiness check.
func (h *health) Check(context.Context) error {
	var problems []string
	h.mu.Lock()
	for _, dep := range slices.Sorted(maps.Keys(h.blocked)) {
		problems = append(problems, dep+" refuses: "+h.blocked[dep]+"; retrying, nothing is set aside")
	}
	h.mu.Unlock()
	if s := h.stalled(time.Now()); s != "" {
		problems = append(problems, s)
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	return nil
}

// monitor trims the stream and refreshes the backlog gauges and the stall state every TrimEvery,
// on its own goroutine: a loop stuck on a batch must not stop either.
func (c *consumer) monitor(ctx context.Context) {
	t := time.NewTicker(c.cfg.TrimEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		if b, err := c.stream.Trim(ctx); err != nil {
			if ctx.Err() == nil {
				c.log.Debug("trimming the stream failed", "err", err)
			}
		} else {
			c.m.trimmed.Add(float64(b.Trimmed))
			c.m.lag.Set(float64(b.Lag))
			c.m.pending.Set(float64(b.Pending))
			age := 0.0
			if b.Waiting {
				age = max(0, now.Sub(time.UnixMilli(b.Oldest.Ms)).Seconds())
			}
			if !b.InboxSince.IsZero() {
				age = max(age, now.Sub(b.InboxSince).Seconds())
			}
			c.m.oldestAge.Set(age)
			c.m.inbox.Set(float64(b.Inbox))
			c.health.observe(b, now)
		}
		stalled := 0.0
		if c.health.stalled(now) != "" {
			stalled = 1
		}
		c.m.stalled.Set(stalled)
	}
}
