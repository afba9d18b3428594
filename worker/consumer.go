package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-voting-app/voting-app/platform/backoff"
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
	TrimEvery   time.Duration // how often to trim acknowledged entries and refresh the backlog
	MaxBackoff  time.Duration // longest wait between retries while a dependency is down
	StallAfter  time.Duration // not ready once entries wait this long with nothing committed
	Concurrency int           // batches in flight at once
}

// voteStore is what the consumer needs of the vote store (postgres.Store): a seam the tests use to
// make a write panic.
type voteStore interface {
	Apply(ctx context.Context, votes []ballot.Vote) (int64, error)
	Try(ctx context.Context, votes []ballot.Vote) error
	LastPosition(ctx context.Context) (ballot.Position, error)
}

// consumer is the worker's loop: fetch a batch, apply it in one transaction, then acknowledge it.
// Its promise: every entry ends either applied or on the dead-letter stream with the reason, and
// only an entry's own data sets it aside. Anything else (a dependency down, a permission missing,
// a panic that is not one entry's doing) makes it wait, retry and say so, holding every vote.
type consumer struct {
	stream *queue.Group
	store  voteStore
	log    *slog.Logger
	m      *metrics
	cfg    consumerSettings
	health *health

	lastClaim atomic.Int64 // unix nanos of the last reclaim scan
	claimMu   sync.Mutex   // one reclaim scan at a time
}

// Run consumes until ctx is cancelled. On cancel, batches in flight are finished (applied and
// acknowledged) unless a dependency is down, in which case they stay pending for a reclaim.
func (c *consumer) Run(ctx context.Context) error {
	if err := c.ensureGroup(ctx); err != nil {
		return nil // stopped before the dependencies came up
	}
	var wg sync.WaitGroup
	wg.Go(func() { c.monitor(ctx) })
	wg.Go(func() { c.move(ctx) })

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

// ensureGroup makes the stream and the group exist, with the stream's floor at the newest vote
// stored, so that a stream Redis lost and a worker recreates never hands out positions below votes
// already counted.
func (c *consumer) ensureGroup(ctx context.Context) error {
	var floor ballot.Position
	err := c.retry(ctx, "postgres", nil, func(ctx context.Context) (err error) {
		floor, err = c.store.LastPosition(ctx)
		return err
	})
	if err != nil {
		return err
	}
	return c.retry(ctx, "redis", nil, func(ctx context.Context) error {
		created, err := c.stream.EnsureGroup(ctx, floor)
		if err == nil && created && floor != (ballot.Position{}) {
			c.log.Warn("the vote stream was missing (Redis lost its data) and has been created again; "+
				"new entries come after the newest stored vote", "floor", queue.FormatID(floor))
		}
		return err
	})
}

// move carries votes from the inbox (and the classic app's list) onto the stream as they arrive:
// it waits on the inbox without taking anything, then moves everything there in batches. Every
// worker runs one; the moves are atomic and keep the order of arrival whoever makes them.
func (c *consumer) move(ctx context.Context) {
	wait := backoff.Backoff{Min: 100 * time.Millisecond, Max: c.cfg.MaxBackoff}
	for ctx.Err() == nil {
		moved, err := c.stream.Move(ctx, c.cfg.BatchSize)
		if err == nil && moved == 0 {
			_, err = c.stream.AwaitInbox(ctx, c.cfg.Block)
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			c.failed("redis", err, classifyRedis(err))
			c.log.Warn("moving votes from the inbox failed; retrying", "err", err)
			if queue.IsNoGroup(err) || errors.Is(err, queue.ErrNoStream) {
				c.ensureGroup(ctx)
			}
			wait.Wait(ctx)
			continue
		}
		wait.Reset()
		c.m.moved.Add(float64(moved))
	}
}

func (c *consumer) loop(ctx context.Context) {
	for ctx.Err() == nil {
		c.iterate(ctx)
	}
}

// iterate fetches and handles one batch. A panic anywhere in it is recovered, so the loop goes on;
// entries it left unacknowledged are reclaimed later, as after a crash.
func (c *consumer) iterate(ctx context.Context) {
	defer func() {
		if v := recover(); v != nil {
			c.m.panics.Inc()
			c.log.Error("panic in the consume loop", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			backoff.Sleep(ctx, c.cfg.MaxBackoff)
		}
	}()
	msgs, err := c.fetch(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		c.failed("redis", err, classifyRedis(err))
		c.log.Warn("fetching votes failed; retrying", "err", err)
		if queue.IsNoGroup(err) {
			c.ensureGroup(ctx)
		}
		backoff.Sleep(ctx, c.cfg.MaxBackoff/4)
		return
	}
	c.succeeded("redis")
	if len(msgs) > 0 {
		c.handle(ctx, msgs)
	}
}

// fetch returns the next batch: when a reclaim is due, entries abandoned by dead consumers;
// otherwise new entries.
func (c *consumer) fetch(ctx context.Context) ([]queue.Entry, error) {
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

// retry calls fn until it succeeds, waiting with exponential backoff and jitter between attempts
// and calling between (if not nil) before each wait. Each attempt gets its own deadline and is not
// cut short by ctx, so a batch under way when the stop signal arrives still commits; ctx only ends
// the waiting between attempts. It returns ctx.Err() when stopped before success, and at once any
// error that names the data written (postgres.DataFault) or a panic: those are the caller's to
// isolate, retrying them would fail forever.
func (c *consumer) retry(ctx context.Context, dependency string, between func(), fn func(context.Context) error) error {
	wait := backoff.Backoff{Min: 100 * time.Millisecond, Max: c.cfg.MaxBackoff}
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
		err := c.call(actx, fn)
		cancel()
		if err == nil {
			if attempt > 1 {
				c.log.Info("dependency is back", "dependency", dependency, "attempts", attempt)
			}
			c.succeeded(dependency)
			return nil
		}
		fault := classify(dependency, err)
		if fault == postgres.DataFault || isPanic(err) {
			return err
		}
		c.failed(dependency, err, fault)
		// A warning when the trouble starts and every tenth attempt (a minute or so at the longest
		// backoff) while it lasts; an error that is nobody's data is an error, it needs a person.
		level := slog.LevelWarn
		if fault == postgres.Unexplained {
			level = slog.LevelError
		}
		if attempt == 1 || attempt%10 == 0 {
			c.log.Log(ctx, level, "dependency failed; retrying, nothing is acknowledged or set aside meanwhile",
				"dependency", dependency, "fault", fault.String(), "attempt", attempt, "err", reason(err))
		}
		if between != nil {
			between()
		}
		if !wait.Wait(ctx) {
			return ctx.Err()
		}
	}
}

// call runs fn, turning a panic into a *panicError with the stack.
func (c *consumer) call(ctx context.Context, fn func(context.Context) error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			c.m.panics.Inc()
			err = &panicError{value: fmt.Sprint(v), stack: string(debug.Stack())}
			c.log.Error("panic while handling a batch; recovered", "panic", err.Error(), "stack", err.(*panicError).stack)
		}
	}()
	return fn(ctx)
}

// failed and succeeded keep the failure gauges and the readiness reason of a dependency.
func (c *consumer) failed(dependency string, err error, fault postgres.Fault) {
	c.m.retries.WithLabelValues(dependency).Inc()
	c.m.consecutive.WithLabelValues(dependency).Inc()
	if fault == postgres.Unexplained {
		c.health.block(dependency, reason(err))
	}
}

func (c *consumer) succeeded(dependency string) {
	c.m.consecutive.WithLabelValues(dependency).Set(0)
	c.health.unblock(dependency)
}
