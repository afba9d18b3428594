package main

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"time"

	"github.com/go-voting-app/voting-app/platform/backoff"
	"github.com/go-voting-app/voting-app/platform/ballot"
	"github.com/go-voting-app/voting-app/platform/postgres"
	"github.com/go-voting-app/voting-app/platform/queue"
	"github.com/redis/go-redis/v9"
)

// Kinds of dead letters besides the decoding ones of package queue.
const (
	// kindRejected: the database refused the vote's own data (an SQLSTATE of class 22 or 23, …),
	// and took a vote known to be valid in its place.
	kindRejected = "rejected_by_database"
	// kindPanic: handling the entry, and only it, made the worker panic.
	kindPanic = "panic"
)

// item is one decoded entry on its way to the database.
type item struct {
	entry queue.Entry
	vote  ballot.Vote
}

// handle decodes, applies and acknowledges one batch. An entry whose own data cannot be decoded or
// stored is dead-lettered with the reason; the rest are applied. Postgres or Redis being down, or
// refusing for reasons that are nobody's data, stops the batch in place: it retries with backoff
// and acknowledges nothing until the votes are committed. When ctx is cancelled during such an
// outage it gives up, and the entries stay pending for a reclaim.
func (c *consumer) handle(ctx context.Context, msgs []queue.Entry) {
	defer func() {
		if v := recover(); v != nil {
			c.m.panics.Inc()
			c.log.Error("panic while handling a batch; its entries stay pending for a reclaim",
				"entries", len(msgs), "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
		}
	}()
	start := time.Now()
	ids := make([]string, 0, len(msgs))
	items := make([]item, 0, len(msgs))
	var dead []queue.DeadLetter
	for _, msg := range msgs {
		ids = append(ids, msg.ID)
		v, err := c.decode(msg)
		var de *queue.DecodeError
		switch {
		case errors.As(err, &de):
			dead = append(dead, queue.DeadLetter{ID: msg.ID, Kind: de.Kind, Reason: de.Reason, Fields: msg.Fields})
		case err != nil: // a panic while decoding this entry alone
			dead = append(dead, queue.DeadLetter{ID: msg.ID, Kind: kindPanic, Reason: err.Error(), Fields: msg.Fields})
		default:
			items = append(items, item{entry: msg, vote: v})
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

	b := &batchRun{c: c, hold: hold}
	rejected, changed, err := b.apply(ctx, items)
	if err != nil {
		c.log.Warn("stopping with a batch unapplied; its entries stay pending for a reclaim", "entries", len(msgs))
		return
	}
	dead = append(dead, rejected...)
	var (
		acked   int64
		written []queue.DeadLetter
	)
	if err := c.retry(ctx, "redis", hold, func(ctx context.Context) (err error) {
		acked, written, err = c.stream.Settle(ctx, ids, dead)
		return err
	}); err != nil {
		c.log.Warn("stopping with a batch applied but unacknowledged; a replay will change nothing", "entries", len(msgs))
		return
	}
	c.health.committed(time.Now())

	c.m.batchSize.Observe(float64(len(msgs)))
	c.m.batchSeconds.Observe(time.Since(start).Seconds())
	c.m.entries.Add(float64(acked))
	c.m.applied.Add(float64(changed))
	for _, d := range written {
		c.m.deadLetters.WithLabelValues(d.Kind).Inc()
		c.log.Warn("entry dead-lettered", "id", d.ID, "kind", d.Kind, "reason", d.Reason)
	}
	c.log.Debug("batch applied", "entries", len(msgs), "votes", len(items), "changed", changed,
		"dead", len(dead), "duration", time.Since(start))
}

// decode is queue.Decode with a panic turned into an error: an entry whose decoding panics is
// dead-lettered like any malformed one, provided decoding a valid entry does not panic too (then
// decoding itself is broken, and the panic is everyone's: it propagates to the loop, which keeps
// every entry pending).
func (c *consumer) decode(e queue.Entry) (v ballot.Vote, err error) {
	defer func() {
		if p := recover(); p != nil {
			c.m.panics.Inc()
			c.log.Error("panic while decoding an entry", "id", e.ID, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			if _, cerr := queue.Decode(canaryEntry()); cerr != nil {
				panic(fmt.Sprintf("decoding a valid entry fails too (%v) after: %v", cerr, p))
			}
			err = &panicError{value: fmt.Sprint(p)}
		}
	}()
	return queue.Decode(e)
}

// batchRun is one batch's way through the database. It remembers whether a valid vote went
// through, so a batch with many bad entries asks that question once.
type batchRun struct {
	c      *consumer
	hold   func()
	canary *bool
}

// apply writes items and returns the dead letters of those the database refuses for their own
// data. A refusal of the whole is narrowed down by halving: the store may apply any part of a
// batch on its own, in any order, since a vote only ever replaces an older one. A single item is
// set aside only if a vote known to be valid goes through the same statements; if that fails too,
// the fault is not the item's, and the batch waits and retries like any outage. It returns an
// error only when ctx ended the waiting.
func (b *batchRun) apply(ctx context.Context, items []item) (dead []queue.DeadLetter, changed int64, err error) {
	if len(items) == 0 {
		return nil, 0, nil
	}
	wait := backoff.Backoff{Min: 100 * time.Millisecond, Max: b.c.cfg.MaxBackoff}
	for {
		b.hold() // narrowing down takes attempts: keep the batch's entries ours meanwhile
		err := b.c.retry(ctx, "postgres", b.hold, func(ctx context.Context) (err error) {
			changed, err = b.c.store.Apply(ctx, votes(items))
			return err
		})
		switch {
		case err == nil:
			return nil, changed, nil
		case !isolatable(err): // retry only gives up when ctx ends the waiting
			return nil, 0, err
		case len(items) > 1:
			half := len(items) / 2
			d1, n1, err := b.apply(ctx, items[:half])
			if err != nil {
				return nil, 0, err
			}
			d2, n2, err := b.apply(ctx, items[half:])
			if err != nil {
				return nil, 0, err
			}
			return append(d1, d2...), n1 + n2, nil
		}
		ok, cerr := b.validVoteGoesThrough(ctx)
		if cerr != nil {
			return nil, 0, cerr
		}
		if ok {
			// The control went through: try the entry once more, after it. A cause fixed between
			// the entry's refusal and the control (a constraint dropped, a trigger replaced) must
			// not set a valid vote aside; only a refusal that outlives a passing control does.
			err = b.c.retry(ctx, "postgres", b.hold, func(ctx context.Context) (err error) {
				changed, err = b.c.store.Apply(ctx, votes(items))
				return err
			})
			switch {
			case err == nil:
				return nil, changed, nil
			case !isolatable(err):
				return nil, 0, err
			}
			kind := kindRejected
			if isPanic(err) {
				kind = kindPanic
			}
			e := items[0].entry
			return []queue.DeadLetter{{ID: e.ID, Kind: kind, Reason: reason(err), Fields: e.Fields}}, 0, nil
		}
		b.c.failed("postgres", err, postgres.Unexplained)
		b.c.log.Error("the database refuses even a valid vote, so the fault is not the entry's; "+
			"retrying, nothing is set aside", "id", items[0].entry.ID, "err", reason(err))
		b.hold()
		if !wait.Wait(ctx) {
			return nil, 0, ctx.Err()
		}
		b.canary = nil // ask again next time: the cause may have been fixed
	}
}

// validVoteGoesThrough asks the store whether it takes a vote known to be valid, in a transaction
// it rolls back: the control that tells a fault in one entry's data from one in everything.
func (b *batchRun) validVoteGoesThrough(ctx context.Context) (bool, error) {
	if b.canary != nil {
		return *b.canary, nil
	}
	v, err := queue.Decode(canaryEntry())
	if err != nil {
		return false, nil
	}
	err = b.c.retry(ctx, "postgres", b.hold, func(ctx context.Context) error {
		return b.c.store.Try(ctx, []ballot.Vote{v})
	})
	if err != nil && !isolatable(err) {
		return false, err
	}
	ok := err == nil
	b.canary = &ok
	return ok, nil
}

// canaryEntry is a valid entry cast now, by a voter no vote service issues (ids are 32 hex
// digits; this one is not).
func canaryEntry() queue.Entry {
	now := time.Now()
	return queue.Entry{
		ID: queue.FormatID(ballot.Position{Ms: now.UnixMilli()}),
		Fields: map[string]any{
			queue.FieldVoter:  "worker-canary",
			queue.FieldOption: ballot.KeyA,
			queue.FieldCastAt: fmt.Sprint(now.UnixMilli()),
		},
	}
}

func votes(items []item) []ballot.Vote {
	out := make([]ballot.Vote, len(items))
	for i, it := range items {
		out[i] = it.vote
	}
	return out
}

// panicError is a recovered panic.
type panicError struct {
	value string
	stack string
}

func (e *panicError) Error() string { return "panic: " + e.value }

func isPanic(err error) bool {
	var p *panicError
	return errors.As(err, &p)
}

// isolatable errors are about what was written: a panic, or the database refusing the data. The
// rest, once retry returns them, mean it was stopped.
func isolatable(err error) bool { return isPanic(err) || postgres.Classify(err) == postgres.DataFault }

// classify says what a failed call to a dependency means.
func classify(dependency string, err error) postgres.Fault {
	if dependency == "postgres" {
		return postgres.Classify(err)
	}
	return classifyRedis(err)
}

// classifyRedis: a refusal that no waiting cures (a missing permission, a wrong password, an
// unknown command) is unexplained; anything else (connection, timeout, loading) passes.
func classifyRedis(err error) postgres.Fault {
	var rerr redis.Error
	if errors.As(err, &rerr) {
		for _, p := range []string{"NOPERM", "WRONGPASS", "NOAUTH", "ERR unknown command", "WRONGTYPE"} {
			if strings.HasPrefix(rerr.Error(), p) {
				return postgres.Unexplained
			}
		}
	}
	return postgres.Transient
}

// reason is an error as a dead letter and a readiness check show it.
func reason(err error) string { return postgres.Reason(err) }
