package main

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-voting-app/voting-app/platform/ballot"
	"github.com/go-voting-app/voting-app/platform/postgres"
	"github.com/go-voting-app/voting-app/platform/queue"
)

// consumerSettings tune the consume loop.
type consumerSettings struct {
	BatchSize   int           // entries per read
	Block       time.Duration // how long a read waits for new entries
	ClaimIdle   time.Duration // an entry pending this long at another consumer is taken over
	ClaimEvery  time.Duration // how often to look for such entries
	TrimEvery   time.Duration // how often to trim acknowledged entries and refresh the lag
	MaxBackoff  time.Duration // longest wait between retries while a dependency is down
	Concurrency int           // batches in flight at once
}

// consumer is the worker's loop: fetch a batch, apply it in one transaction, then acknowledge it.
type consumer struct {
	stream *queue.Group
	store  *postgres.Store
	log    *slog.Logger
	m      *metrics
	cfg    consumerSettings

	lastClaim atomic.Int64 // unix nanos of the last reclaim scan
	lastTrim  atomic.Int64
	claimMu   sync.Mutex // one reclaim scan at a time
}

// Run consumes until ctx is cancelled. On cancel, batches in flight are finished (applied and
// acknowledged) unless a dependency is down, in which case they stay pending for a reclaim.
func (c *consumer) Run(ctx context.Context) error {
	if err := c.retry(ctx, "redis", nil, c.stream.EnsureGroup); err != nil {
		return nil // stopped before Redis came up
	}
	// Entries this consumer name read in a previous life (a restarted container keeps its
	// hostname) come first, before anything new.
	after := "0"
	for ctx.Err() == nil {
		var msgs []queue.Entry
		err := c.retry(ctx, "redis", nil, func(ctx context.Context) (err error) {
			msgs, err = c.stream.ReadOwnPending(ctx, after, c.cfg.BatchSize)
			return err
		})
		if err != nil || len(msgs) == 0 {
			break
		}
		after = msgs[len(msgs)-1].ID
		c.m.reclaimed.Add(float64(len(msgs)))
		c.handle(ctx, msgs)
	}

	var wg sync.WaitGroup
	for range max(1, c.cfg.Concurrency) {
		wg.Go(func() { c.loop(ctx) })
	}
	wg.Wait()

	leave, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if err := c.stream.Leave(leave); err != nil {
		c.log.Warn("could not leave the consumer group; the name stays until another worker forgets it", "err", err)
	}
	return nil
}

func (c *consumer) loop(ctx context.Context) {
	for ctx.Err() == nil {
		msgs, err := c.fetch(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			c.m.retries.WithLabelValues("redis").Inc()
			c.log.Warn("fetching votes failed; retrying", "err", err)
			if queue.IsNoGroup(err) {
				if err := c.stream.EnsureGroup(ctx); err != nil {
					c.log.Warn("recreating the consumer group failed", "err", err)
				}
			}
			sleep(ctx, c.cfg.MaxBackoff/4)
			continue
		}
		if len(msgs) > 0 {
			c.handle(ctx, msgs)
		}
		c.maybeTrim(ctx, len(msgs) == 0)
	}
}

// fetch returns the next batch: entries drained from the classic list are put on the stream
// first; then, when a reclaim is due, entries abandoned by dead consumers; otherwise new entries.
func (c *consumer) fetch(ctx context.Context) ([]queue.Entry, error) {
	if moved, err := c.stream.DrainLegacy(ctx, c.cfg.BatchSize); err != nil {
		return nil, err
	} else if moved > 0 {
		c.m.legacyMoved.Add(float64(moved))
	}
	if msgs, err := c.reclaim(ctx); err != nil || len(msgs) > 0 {
		return msgs, err
	}
	return c.stream.ReadNew(ctx, c.cfg.BatchSize, c.cfg.Block)
}

// reclaim scans the group's pending list for entries idle longer than ClaimIdle, at most once per
// ClaimEvery, and returns the first page it takes over. The next page comes on the next call.
func (c *consumer) reclaim(ctx context.Context) ([]queue.Entry, error) {
	now := time.Now().UnixNano()
	if now-c.lastClaim.Load() < int64(c.cfg.ClaimEvery) || !c.claimMu.TryLock() {
		return nil, nil
	}
	defer c.claimMu.Unlock()
	msgs, next, err := c.stream.Claim(ctx, c.cfg.ClaimIdle, "0-0", c.cfg.BatchSize)
	if err != nil {
		return nil, err
	}
	if next == "0-0" || len(msgs) == 0 {
		c.lastClaim.Store(now) // scan complete: wait ClaimEvery for the next
		// Consumers silent for ten claim periods with nothing pending are gone for good.
		if n, err := c.stream.Forget(ctx, 10*c.cfg.ClaimIdle); err != nil {
			c.log.Warn("forgetting departed consumers failed", "err", err)
		} else if n > 0 {
			c.log.Info("forgot departed consumers", "consumers", n)
		}
	}
	if len(msgs) > 0 {
		c.m.reclaimed.Add(float64(len(msgs)))
		c.log.Info("reclaimed entries abandoned by another consumer", "entries", len(msgs))
	}
	return msgs, nil
}

// handle decodes, applies and acknowledges one batch. Postgres or Redis being down stops it in
// place: it retries with backoff and acknowledges nothing until the votes are committed. When ctx
// is cancelled during such an outage it gives up, and the entries stay pending for a reclaim.
func (c *consumer) handle(ctx context.Context, msgs []queue.Entry) {
	start := time.Now()
	votes := make([]ballot.Vote, 0, len(msgs))
	ids := make([]string, 0, len(msgs))
	var dead []queue.DeadLetter
	for _, msg := range msgs {
		ids = append(ids, msg.ID)
		v, err := queue.Decode(msg)
		var de *queue.DecodeError
		switch {
		case errors.As(err, &de):
			dead = append(dead, queue.DeadLetter{ID: msg.ID, Kind: de.Kind, Reason: de.Reason, Fields: msg.Fields})
		case err != nil: // Decode returns only DecodeErrors; keep the entry safe anyway
			dead = append(dead, queue.DeadLetter{ID: msg.ID, Kind: "unknown", Reason: err.Error(), Fields: msg.Fields})
		default:
			votes = append(votes, v)
		}
	}

	// While a dependency is down the batch waits here; keep holding its entries so that no other
	// consumer mistakes them for abandoned and applies them a second time.
	lastHold := time.Now()
	hold := func() {
		if time.Since(lastHold) >= c.cfg.ClaimIdle/3 {
			if err := c.stream.Hold(ctx, ids); err == nil {
				lastHold = time.Now()
			}
		}
	}

	var changed, acked int64
	if err := c.retry(ctx, "postgres", hold, func(ctx context.Context) (err error) {
		changed, err = c.store.Apply(ctx, votes)
		return err
	}); err != nil {
		c.log.Warn("stopping with a batch unapplied; its entries stay pending for a reclaim", "entries", len(msgs))
		return
	}
	if err := c.retry(ctx, "redis", hold, func(ctx context.Context) (err error) {
		acked, err = c.stream.Settle(ctx, ids, dead)
		return err
	}); err != nil {
		c.log.Warn("stopping with a batch applied but unacknowledged; a replay will change nothing", "entries", len(msgs))
		return
	}

	c.m.batchSize.Observe(float64(len(msgs)))
	c.m.batchSeconds.Observe(time.Since(start).Seconds())
	c.m.entries.Add(float64(acked))
	c.m.applied.Add(float64(changed))
	for _, d := range dead {
		c.m.deadLetters.WithLabelValues(d.Kind).Inc()
		c.log.Warn("entry dead-lettered", "id", d.ID, "kind", d.Kind, "reason", d.Reason)
	}
	c.log.Debug("batch applied", "entries", len(msgs), "votes", len(votes), "changed", changed,
		"dead", len(dead), "duration", time.Since(start))
}

// maybeTrim trims acknowledged entries and refreshes the backlog gauges, at most once per
// TrimEvery, and whenever the stream has run dry.
func (c *consumer) maybeTrim(ctx context.Context, idle bool) {
	now := time.Now().UnixNano()
	last := c.lastTrim.Load()
	if !idle && now-last < int64(c.cfg.TrimEvery) || !c.lastTrim.CompareAndSwap(last, now) {
		return
	}
	b, err := c.stream.Trim(ctx)
	if err != nil {
		if ctx.Err() == nil {
			c.log.Warn("trimming the stream failed", "err", err)
		}
		return
	}
	c.m.trimmed.Add(float64(b.Trimmed))
	c.m.lag.Set(float64(b.Lag))
	c.m.pending.Set(float64(b.Pending))
}

// retry calls fn until it succeeds, waiting with exponential backoff and jitter between attempts
// and calling between (if not nil) before each wait. Each attempt gets its own deadline and is not
// cut short by ctx, so a batch under way when the stop signal arrives still commits; ctx only ends
// the waiting between attempts. It returns ctx.Err() when stopped before success.
func (c *consumer) retry(ctx context.Context, dependency string, between func(), fn func(context.Context) error) error {
	backoff := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
		err := fn(actx)
		cancel()
		if err == nil {
			if attempt > 1 {
				c.log.Info("dependency is back", "dependency", dependency, "attempts", attempt)
			}
			return nil
		}
		c.m.retries.WithLabelValues(dependency).Inc()
		c.log.Warn("dependency unavailable; retrying", "dependency", dependency, "attempt", attempt,
			"backoff", backoff, "err", err)
		if between != nil {
			between()
		}
		if !sleep(ctx, backoff/2+rand.N(backoff/2+1)) {
			return ctx.Err()
		}
		backoff = min(backoff*2, c.cfg.MaxBackoff)
	}
}

// sleep waits for d or until ctx is done; it reports whether the full wait happened.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
