package main

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-voting-app/voting-app/platform/ballot"
	"github.com/go-voting-app/voting-app/platform/queue"
	"github.com/go-voting-app/voting-app/testkit"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"
)

func TestConsumerAppliesAndTrims(t *testing.T) {
	r := defaultRig(t)
	stop := r.start(r.consumer("w1", fastSettings))
	defer stop()
	want := r.add(randomVotes(1, 2000, 300)...)
	r.waitStored(want, 30*time.Second)
	if r.historyCount() != 2000 {
		t.Fatalf("history has %d votes, want 2000", r.historyCount())
	}
	testkit.Eventually(t, 10*time.Second, "the stream to be trimmed to nothing", func() bool {
		n, _ := r.rdb.XLen(context.Background(), r.stream).Result()
		return n == 0 && r.pending() == 0
	})
}

// The consumer that read a batch committed it and died before acknowledging. Another consumer
// reclaims the entries; applying them again changes nothing, so nothing is counted twice.
func TestCrashAfterCommitBeforeAckCountsNothingTwice(t *testing.T) {
	r := defaultRig(t)
	ctx := context.Background()
	want := r.add(randomVotes(2, 500, 100)...)

	dying := r.consumer("dying", fastSettings)
	if _, err := dying.stream.EnsureGroup(ctx, ballot.Position{}); err != nil {
		t.Fatal(err)
	}
	msgs, err := dying.stream.ReadNew(ctx, 500, 0)
	if err != nil || len(msgs) != 500 {
		t.Fatalf("read %d entries, err %v", len(msgs), err)
	}
	votes := decodeAll(t, msgs)
	if _, err := dying.store.Apply(ctx, votes); err != nil {
		t.Fatal(err)
	}
	// ... and the process is gone: no acknowledgement.
	if r.pending() != 500 {
		t.Fatalf("pending %d, want 500", r.pending())
	}

	stop := r.start(r.consumer("heir", fastSettings))
	defer stop()
	testkit.Eventually(t, 20*time.Second, "the entries to be reclaimed and acknowledged", func() bool { return r.pending() == 0 })
	r.waitStored(want, time.Second)
	if h := r.historyCount(); h != 500 {
		t.Fatalf("history has %d votes, want 500 (each once)", h)
	}
}

// The consumer read a batch and died before its transaction committed. The entries stay pending
// and are reclaimed: nothing is lost.
func TestCrashBeforeCommitLosesNothing(t *testing.T) {
	r := defaultRig(t)
	ctx := context.Background()
	want := r.add(randomVotes(3, 300, 50)...)

	dying := r.consumer("dying", fastSettings)
	if _, err := dying.stream.EnsureGroup(ctx, ballot.Position{}); err != nil {
		t.Fatal(err)
	}
	msgs, err := dying.stream.ReadNew(ctx, 300, 0)
	if err != nil || len(msgs) != 300 {
		t.Fatalf("read %d entries, err %v", len(msgs), err)
	}
	// Its transaction is cut off mid-way (the process dies): nothing commits.
	cut, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := dying.store.Apply(cut, decodeAll(t, msgs)); err == nil {
		t.Fatal("expected the cut-off transaction to fail")
	}
	if len(r.stored()) != 0 {
		t.Fatal("votes were stored by a transaction that did not commit")
	}

	stop := r.start(r.consumer("heir", fastSettings))
	defer stop()
	r.waitStored(want, 20*time.Second)
	testkit.Eventually(t, 10*time.Second, "all entries acknowledged", func() bool { return r.pending() == 0 })
}

// A restarted container keeps its consumer name: it first finishes what it read before dying.
func TestRestartedConsumerFinishesItsOwnPendingEntries(t *testing.T) {
	r := defaultRig(t)
	ctx := context.Background()
	want := r.add(randomVotes(4, 250, 40)...)
	slow := fastSettings
	slow.ClaimIdle = time.Hour // no reclaiming: only the own-pending path can pick them up
	c := r.consumer("same-name", slow)
	if _, err := c.stream.EnsureGroup(ctx, ballot.Position{}); err != nil {
		t.Fatal(err)
	}
	if msgs, err := c.stream.ReadNew(ctx, 250, 0); err != nil || len(msgs) != 250 {
		t.Fatalf("read %d, %v", len(msgs), err)
	}
	stop := r.start(r.consumer("same-name", slow))
	defer stop()
	r.waitStored(want, 20*time.Second)
	testkit.Eventually(t, 10*time.Second, "all entries acknowledged", func() bool { return r.pending() == 0 })
}

func TestPoisonEntriesAreDeadLetteredAndTheWorkerGoesOn(t *testing.T) {
	r := defaultRig(t)
	ctx := context.Background()
	c := r.consumer("w1", fastSettings)
	stop := r.start(c)
	defer stop()

	want := r.add(cast{"0123456789abcdef0123456789abcdef", "a"})
	poison := []struct {
		values []any
		kind   string
	}{
		{[]any{"voter", "x"}, "missing_field"},
		{[]any{"vote", "a"}, "missing_field"},
		{[]any{"voter", strings.Repeat("v", 300), "vote", "a"}, "bad_voter"},
		{[]any{"voter", strings.Repeat("v", 1<<20), "vote", "b"}, "bad_voter"},
		{[]any{"voter", "abc", "vote", "c"}, "unknown_option"},
		{[]any{"voter", "abc", "vote", strings.Repeat("z", 1<<20)}, "unknown_option"},
		{[]any{"voter", "abc", "vote", "a", "ts", "not-a-time"}, "bad_cast_at"},
		{[]any{"voter", "a b", "vote", "a"}, "bad_voter"},
		{[]any{"legacy", `{"voter_id": 5}`}, "bad_legacy"},
		{[]any{"legacy", `not json`}, "bad_legacy"},
	}
	wantKind := map[string]string{}
	for _, p := range poison {
		id, err := r.rdb.XAdd(ctx, &redis.XAddArgs{Stream: r.stream, Values: p.values}).Result()
		if err != nil {
			t.Fatal(err)
		}
		wantKind[id] = p.kind
	}
	more := r.add(cast{"fedcba9876543210fedcba9876543210", "b"})
	r.waitStored(merge(want, more), 20*time.Second)

	testkit.Eventually(t, 10*time.Second, "every poison entry dead-lettered", func() bool {
		n, _ := r.rdb.XLen(ctx, r.dead).Result()
		return n == int64(len(poison))
	})
	dead, err := r.rdb.XRange(ctx, r.dead, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range dead {
		id, _ := d.Values["id"].(string)
		if d.Values["kind"] != wantKind[id] {
			t.Errorf("dead letter for %s: kind %v, want %s (reason %v)", id, d.Values["kind"], wantKind[id], d.Values["reason"])
		}
		if d.Values["reason"] == "" || d.Values["id"] == "" {
			t.Errorf("dead letter %d lacks id or reason: %v", i, d.Values)
		}
		for k, v := range d.Values {
			if s, _ := v.(string); len(s) > 2*1024 { // queue keeps 1 KiB of each field
				t.Errorf("dead letter %d keeps %d bytes of %s; values must be capped", i, len(s), k)
			}
		}
	}
	testkit.Eventually(t, 10*time.Second, "everything acknowledged", func() bool { return r.pending() == 0 })
	perKind := map[string]float64{}
	for _, p := range poison {
		perKind[p.kind]++
	}
	testkit.Eventually(t, 10*time.Second, "the dead letters counted by kind", func() bool {
		for kind, n := range perKind {
			if testutil.ToFloat64(c.m.deadLetters.WithLabelValues(kind)) != n {
				return false
			}
		}
		return true
	})
}

// Postgres goes away while votes keep arriving: nothing is acknowledged while it is down, and
// everything is applied once it is back.
func TestPostgresStoppedMidRunLosesNothing(t *testing.T) {
	pg := testkit.StartPostgres(t)
	url, prefix := testkit.Redis(t)
	r := newRig(t, pg.URL(t), url, prefix)
	c := r.consumer("w1", fastSettings)
	stop := r.start(c)
	defer stop()
	acked := func() float64 { return testutil.ToFloat64(c.m.entries) }

	first := r.add(randomVotes(5, 300, 100)...)
	r.waitStored(first, 20*time.Second)
	testkit.Eventually(t, 10*time.Second, "the first votes acknowledged", func() bool { return acked() == 300 })

	pg.Stop(t)
	second := r.add(randomVotes(6, 400, 150)...)
	testkit.Eventually(t, 10*time.Second, "the worker to hold entries it cannot apply", func() bool { return r.pending() > 0 })
	testkit.Eventually(t, 10*time.Second, "the worker to retry against the stopped database", func() bool {
		return testutil.ToFloat64(c.m.retries.WithLabelValues("postgres")) >= 3
	})
	if got := acked(); got != 300 {
		t.Fatalf("%v entries acknowledged while Postgres was down; want still 300", got)
	}
	// Long enough for a reclaim, had the batch not been held: another consumer of the group finds
	// nothing idle for CLAIM_IDLE to take over, because the waiting worker keeps renewing its hold.
	time.Sleep(3 * fastSettings.ClaimIdle)
	thief := queue.NewGroup(r.rdb, queue.GroupConfig{Stream: r.stream, Group: r.group, Consumer: "thief"})
	taken, _, err := thief.Claim(context.Background(), fastSettings.ClaimIdle, "0-0", 1000)
	if err != nil || len(taken) != 0 {
		t.Fatalf("another consumer could take over %d entries of a batch still waiting for the database (%v)", len(taken), err)
	}

	pg.Start(t)
	r.waitStored(merge(first, second), 30*time.Second)
	testkit.Eventually(t, 10*time.Second, "everything acknowledged", func() bool { return r.pending() == 0 && acked() == 700 })
}

// Redis restarts (with its append-only file): the worker reconnects and nothing is lost.
func TestRedisRestartLosesNothing(t *testing.T) {
	rs := testkit.StartRedis(t, true)
	r := newRig(t, testkit.Postgres(t), rs.URL(), "t:")
	stop := r.start(r.consumer("w1", fastSettings))
	defer stop()
	first := r.add(randomVotes(7, 200, 50)...)
	r.waitStored(first, 20*time.Second)

	rs.Stop(t)
	rs.Start(t)
	second := r.add(randomVotes(8, 200, 80)...)
	r.waitStored(merge(first, second), 30*time.Second)
}

// Consumers that left (replaced containers) are deleted once they hold nothing and stay silent;
// one with pending entries is kept until they are reclaimed; a clean stop leaves no name behind.
func TestDepartedConsumersAreForgotten(t *testing.T) {
	r := defaultRig(t)
	ctx := context.Background()
	ghost := r.consumer("ghost", fastSettings)
	if _, err := ghost.stream.EnsureGroup(ctx, ballot.Position{}); err != nil {
		t.Fatal(err)
	}
	// A consumer that registered and never held anything (an empty read does not register one).
	if err := r.rdb.XGroupCreateConsumer(ctx, r.stream, r.group, "ghost").Err(); err != nil {
		t.Fatal(err)
	}
	want := r.add(randomVotes(11, 20, 10)...)
	holder := r.consumer("holder", fastSettings)
	if msgs, err := holder.stream.ReadNew(ctx, 20, -1); err != nil || len(msgs) != 20 {
		t.Fatalf("holder read %d, %v", len(msgs), err)
	}
	names := func() map[string]int64 {
		cs, err := r.rdb.XInfoConsumers(ctx, r.stream, r.group).Result()
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]int64{}
		for _, c := range cs {
			out[c.Name] = c.Pending
		}
		return out
	}

	stop := r.start(r.consumer("w1", fastSettings))
	r.waitStored(want, 20*time.Second) // holder's entries were reclaimed by w1
	testkit.Eventually(t, 20*time.Second, "ghost and holder to be forgotten", func() bool {
		n := names()
		_, g := n["ghost"]
		_, h := n["holder"]
		return !g && !h
	})
	stop()
	if n := names(); len(n) != 0 {
		t.Fatalf("consumers left after a clean stop: %v", n)
	}
}

// Redis comes back empty (no persistence, or a FLUSHALL): the worker creates its group again and
// goes on with the votes cast from then on.
func TestStreamAndGroupLostTheWorkerRecovers(t *testing.T) {
	rs := testkit.StartRedis(t, false)
	r := newRig(t, testkit.Postgres(t), rs.URL(), "t:")
	stop := r.start(r.consumer("w1", fastSettings))
	defer stop()
	first := r.add(randomVotes(9, 100, 30)...)
	r.waitStored(first, 20*time.Second)

	if err := r.rdb.FlushAll(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	second := r.add(randomVotes(10, 100, 60)...)
	r.waitStored(merge(first, second), 20*time.Second)
}

// Two workers on one stream, with voters changing their minds across batches: the stored votes
// are exactly each voter's last vote.
func TestTwoWorkersOnOneStreamAreExact(t *testing.T) {
	r := defaultRig(t)
	cs := fastSettings
	cs.BatchSize = 50 // many small batches interleave the two workers
	stop1 := r.start(r.consumer("w1", cs))
	stop2 := r.start(r.consumer("w2", cs))
	defer stop1()
	defer stop2()
	want := map[string]string{}
	for i := range 10 {
		want = merge(want, r.add(randomVotes(uint64(100+i), 1000, 500)...))
	}
	r.waitStored(want, 60*time.Second)
	if h := r.historyCount(); h != 10_000 {
		t.Fatalf("history has %d votes, want 10000", h)
	}
}

func TestClassicListIsDrainedWithoutLoss(t *testing.T) {
	r := defaultRig(t)
	ctx := context.Background()
	payloads := []string{
		`{"voter_id":"6f2a9c1e0b7d","vote":"a"}`,
		`{"voter_id":"1b2c3d4e5f60","vote":"b"}`,
		`{"voter_id":"6f2a9c1e0b7d","vote":"b"}`, // changes their mind: last wins
		`{"voter_id":"oops"`,                     // malformed: dead-lettered
	}
	for _, p := range payloads {
		if err := r.rdb.RPush(ctx, r.legacy, p).Err(); err != nil {
			t.Fatal(err)
		}
	}
	stop := r.start(r.consumer("w1", fastSettings))
	defer stop()
	r.waitStored(map[string]string{"6f2a9c1e0b7d": "b", "1b2c3d4e5f60": "b"}, 20*time.Second)
	testkit.Eventually(t, 10*time.Second, "the list drained and the bad entry dead-lettered", func() bool {
		left, _ := r.rdb.LLen(ctx, r.legacy).Result()
		dead, _ := r.rdb.XLen(ctx, r.dead).Result()
		return left == 0 && dead == 1
	})
}

// A stop signal ends the waiting between retries but never an attempt under way: a batch whose
// transaction has started is allowed to commit.
func TestRetryFinishesTheAttemptUnderWay(t *testing.T) {
	r := defaultRig(t)
	c := r.consumer("w1", fastSettings)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	calls := 0
	err := c.retry(ctx, "postgres", nil, func(actx context.Context) error {
		calls++
		return actx.Err() // the attempt's own context is alive although ctx is cancelled
	})
	if err != nil || calls != 1 {
		t.Fatalf("retry = %v after %d calls; want the one attempt to succeed", err, calls)
	}
	calls = 0
	err = c.retry(ctx, "postgres", nil, func(context.Context) error { calls++; return errors.New("down") })
	if !errors.Is(err, context.Canceled) || calls != 1 {
		t.Fatalf("retry = %v after %d calls; want it to give up after the failed attempt", err, calls)
	}
}

// The production path: votes cast on the inbox, as the vote service does, moved onto the stream
// by the workers and applied, the last of each voter's votes winning, with two workers moving and
// consuming at once.
func TestVotesFromTheInboxAreCounted(t *testing.T) {
	r := defaultRig(t)
	stop1 := r.start(r.consumer("w1", fastSettings))
	defer stop1()
	stop2 := r.start(r.consumer("w2", fastSettings))
	defer stop2()
	inbox := queue.NewInbox(r.rdb, r.stream)
	want := map[string]string{}
	for i, v := range randomVotes(29, 1500, 200) {
		if err := inbox.Cast(context.Background(), queue.Cast{Voter: ballot.VoterID(v.voter), Option: v.option,
			At: time.Now().Add(time.Duration(i) * time.Microsecond)}); err != nil {
			t.Fatal(err)
		}
		want[v.voter] = v.option
	}
	r.waitStored(want, 30*time.Second)
	testkit.Eventually(t, 10*time.Second, "the inbox empty and everything acknowledged", func() bool {
		n, _ := r.rdb.LLen(context.Background(), queue.InboxKey(r.stream)).Result()
		return n == 0 && r.pending() == 0
	})
	if h := r.historyCount(); h != 1500 {
		t.Fatalf("history has %d votes, want 1500", h)
	}
}
