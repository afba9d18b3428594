package main

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-voting-app/voting-app/platform/ballot"
	"github.com/go-voting-app/voting-app/platform/postgres"
	"github.com/go-voting-app/voting-app/platform/queue"
	"github.com/go-voting-app/voting-app/testkit"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"
)

// deadLetters reads the dead-letter stream: entry id → kind and reason.
func (r *rig) deadLetters() map[string][2]string {
	r.t.Helper()
	msgs, err := r.rdb.XRange(context.Background(), r.dead, "-", "+").Result()
	if err != nil {
		r.t.Fatal(err)
	}
	out := map[string][2]string{}
	for _, m := range msgs {
		id, _ := m.Values["id"].(string)
		kind, _ := m.Values["kind"].(string)
		reason, _ := m.Values["reason"].(string)
		out[id] = [2]string{kind, reason}
	}
	return out
}

// xadd writes an entry as a client with the vote user's rights could, fields and all.
func (r *rig) xadd(values ...any) string {
	r.t.Helper()
	id, err := r.rdb.XAdd(context.Background(), &redis.XAddArgs{Stream: r.stream, Values: values}).Result()
	if err != nil {
		r.t.Fatal(err)
	}
	return id
}

// The case that stopped the counting: entries whose voter and option are valid but whose cast time
// Postgres cannot store (or no vote service could have written). Each is dead-lettered when it is
// decoded, and the votes behind it are counted.
func TestUnstorableCastTimesDoNotStopTheCount(t *testing.T) {
	r := defaultRig(t)
	c := r.consumer("w1", fastSettings)
	stop := r.start(c)
	defer stop()
	const voter = "0123456789abcdef0123456789abcdef"
	poison := []string{
		r.xadd("voter", voter, "vote", "a", "ts", "9223372036854775807"), // beyond what Postgres stores
		r.xadd("voter", voter, "vote", "b", "ts", "32503680000000"),      // the year 3000
		r.xadd("voter", voter, "vote", "a", "ts", "253402300800000"),     // the year 10000
	}
	want := r.add(randomVotes(21, 5, 5)...)
	r.waitStored(want, 20*time.Second)
	testkit.Eventually(t, 10*time.Second, "everything acknowledged", func() bool { return r.pending() == 0 })
	dead := r.deadLetters()
	for _, id := range poison {
		if dead[id][0] != queue.BadCastAt {
			t.Errorf("entry %s: dead letter %v, want kind %s", id, dead[id], queue.BadCastAt)
		}
	}
	if err := c.health.Check(context.Background()); err != nil {
		t.Errorf("not ready after poison entries: %v", err)
	}
}

// Values that decode but that the database refuses (here a constraint decoding knows nothing
// about): the batch is split until the refused entries are alone, they are dead-lettered with the
// SQLSTATE, and everything else in the same batches is applied and acknowledged.
func TestEntriesTheDatabaseRefusesAreIsolated(t *testing.T) {
	r := defaultRig(t)
	ctx := context.Background()
	if _, err := r.pool.Exec(ctx, `ALTER TABLE votes ADD CONSTRAINT no_rejects CHECK (id NOT LIKE 'reject%') NOT VALID`); err != nil {
		t.Fatal(err)
	}
	votes := randomVotes(22, 600, 150)
	var refused []string
	for i := range votes {
		if i%97 == 5 { // a few, spread over several batches
			votes[i].voter = fmt.Sprintf("reject%026d", i)
			refused = append(refused, votes[i].voter)
		}
	}
	want := r.add(votes...)
	for _, v := range refused {
		delete(want, v)
	}
	c := r.consumer("w1", fastSettings)
	stop := r.start(c)
	defer stop()
	r.waitStored(want, 30*time.Second)
	testkit.Eventually(t, 10*time.Second, "everything acknowledged", func() bool { return r.pending() == 0 })
	dead := r.deadLetters()
	if len(dead) != len(refused) {
		t.Fatalf("%d dead letters, want %d: %v", len(dead), len(refused), dead)
	}
	for id, d := range dead {
		if d[0] != kindRejected || !strings.Contains(d[1], "SQLSTATE 23514") {
			t.Errorf("dead letter %s: %v, want %s with SQLSTATE 23514", id, d, kindRejected)
		}
	}
	if n := testutil.ToFloat64(c.m.deadLetters.WithLabelValues(kindRejected)); n != float64(len(refused)) {
		t.Errorf("worker_dead_letters_total{kind=%q} = %v, want %d", kindRejected, n, len(refused))
	}
}

// An error that looks like data but refuses every vote (here a constraint no row can meet) is not
// any one vote's fault: nothing is dead-lettered, the worker is not ready and says why, and once
// the cause is gone every vote is applied.
func TestARefusalOfEveryVoteStallsAndLosesNothing(t *testing.T) {
	r := defaultRig(t)
	ctx := context.Background()
	if _, err := r.pool.Exec(ctx, `ALTER TABLE votes ADD CONSTRAINT nothing CHECK (false) NOT VALID`); err != nil {
		t.Fatal(err)
	}
	c := r.consumer("w1", fastSettings)
	stop := r.start(c)
	defer stop()
	want := r.add(randomVotes(23, 200, 60)...)
	testkit.Until(t, 20*time.Second, "the worker to report that the database refuses every vote", func() error {
		err := c.health.Check(ctx)
		if err == nil || !strings.Contains(err.Error(), "postgres refuses") || !strings.Contains(err.Error(), "23514") {
			return fmt.Errorf("readiness: %v", err)
		}
		return nil
	})
	if n := testutil.ToFloat64(c.m.consecutive.WithLabelValues("postgres")); n < 1 {
		t.Errorf("worker_consecutive_failures{dependency=postgres} = %v", n)
	}
	if dead := r.deadLetters(); len(dead) != 0 {
		t.Fatalf("%d votes set aside for a fault that is not theirs: %v", len(dead), dead)
	}
	if _, err := r.pool.Exec(ctx, `ALTER TABLE votes DROP CONSTRAINT nothing`); err != nil {
		t.Fatal(err)
	}
	r.waitStored(want, 30*time.Second)
	testkit.Until(t, 10*time.Second, "ready again", func() error { return c.health.Check(ctx) })
	if dead := r.deadLetters(); len(dead) != 0 {
		t.Fatalf("dead letters after the fix: %v", dead)
	}
}

// fixingStore drops the constraint "nothing" when the worker asks its control question, as an
// operator fixing the database between a vote's refusal and that question would.
type fixingStore struct {
	*postgres.Store
	pool  *pgxpool.Pool
	fixed atomic.Bool
}

func (s *fixingStore) Try(ctx context.Context, votes []ballot.Vote) error {
	if s.fixed.CompareAndSwap(false, true) {
		if _, err := s.pool.Exec(ctx, `ALTER TABLE votes DROP CONSTRAINT nothing`); err != nil {
			return err
		}
	}
	return s.Store.Try(ctx, votes)
}

// A cause fixed while the worker narrows a refusal down sets no vote aside: the entry the control
// question was about is tried again after the control passed, and applied.
func TestAFixDuringTheControlSetsNothingAside(t *testing.T) {
	r := defaultRig(t)
	ctx := context.Background()
	if _, err := r.pool.Exec(ctx, `ALTER TABLE votes ADD CONSTRAINT nothing CHECK (false) NOT VALID`); err != nil {
		t.Fatal(err)
	}
	c := r.consumer("w1", fastSettings)
	store := &fixingStore{Store: postgres.NewStore(r.pool), pool: r.pool}
	c.store = store
	want := r.add(randomVotes(29, 1, 1)...)
	stop := r.start(c)
	defer stop()
	r.waitStored(want, 30*time.Second)
	if !store.fixed.Load() {
		t.Fatal("the worker never asked its control question; the test proves nothing")
	}
	if dead := r.deadLetters(); len(dead) != 0 {
		t.Fatalf("a valid vote set aside for a cause fixed meanwhile: %v", dead)
	}
}

// A refusal that says nothing about the votes (a missing permission) is retried, makes the worker
// not ready with the reason, and sets nothing aside; granting the permission lets everything in.
func TestAPermissionErrorStallsLoudly(t *testing.T) {
	r := defaultRig(t)
	ctx := context.Background()
	role := testkit.UniqueName(t)
	for _, sql := range []string{
		`CREATE ROLE ` + role + ` LOGIN`,
		`GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA public TO ` + role,
		`REVOKE INSERT ON vote_history FROM ` + role,
	} {
		if _, err := r.pool.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { r.pool.Exec(context.Background(), `DROP OWNED BY `+role+`; DROP ROLE `+role) })
	u, err := url.Parse(r.url)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.User(role)
	pool, err := postgres.Open(ctx, postgres.Config{URL: u.String(), AppName: "worker-test"})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	c := r.consumerOn("w1", fastSettings, pool)
	stop := r.start(c)
	defer stop()
	want := r.add(randomVotes(24, 100, 40)...)
	testkit.Until(t, 20*time.Second, "the worker to report the missing permission", func() error {
		err := c.health.Check(ctx)
		if err == nil || !strings.Contains(err.Error(), "42501") {
			return fmt.Errorf("readiness: %v", err)
		}
		return nil
	})
	if dead := r.deadLetters(); len(dead) != 0 {
		t.Fatalf("votes set aside for a missing permission: %v", dead)
	}
	if _, err := r.pool.Exec(ctx, `GRANT INSERT ON vote_history TO `+role); err != nil {
		t.Fatal(err)
	}
	r.waitStored(want, 30*time.Second)
	testkit.Until(t, 10*time.Second, "ready again", func() error { return c.health.Check(ctx) })
}

// panickyStore panics in Apply when a vote's voter starts with "panic", or always while all is set.
type panickyStore struct {
	*postgres.Store
	all atomic.Bool
}

func (s *panickyStore) Apply(ctx context.Context, votes []ballot.Vote) (int64, error) {
	for _, v := range votes {
		if s.all.Load() || strings.HasPrefix(v.Voter, "panic") {
			panic("boom: " + v.Voter)
		}
	}
	return s.Store.Apply(ctx, votes)
}

func (s *panickyStore) Try(ctx context.Context, votes []ballot.Vote) error {
	if s.all.Load() {
		panic("boom: everything")
	}
	return s.Store.Try(ctx, votes)
}

// A panic while handling a batch is recovered and counted; the entry that causes it, alone, is
// dead-lettered and the rest applied; a panic that every vote causes stalls instead, and the loops
// go on.
func TestPanicsAreRecoveredAndIsolated(t *testing.T) {
	r := defaultRig(t)
	c := r.consumer("w1", fastSettings)
	store := &panickyStore{Store: postgres.NewStore(r.pool)}
	c.store = store
	stop := r.start(c)
	defer stop()
	votes := randomVotes(25, 300, 80)
	votes[17].voter = "panic000000000000000000000000000"
	votes[230].voter = "panic000000000000000000000000001"
	want := r.add(votes...)
	delete(want, votes[17].voter)
	delete(want, votes[230].voter)
	r.waitStored(want, 30*time.Second)
	testkit.Eventually(t, 10*time.Second, "everything acknowledged", func() bool { return r.pending() == 0 })
	dead := r.deadLetters()
	if len(dead) != 2 {
		t.Fatalf("dead letters %v, want the two panicking entries", dead)
	}
	for id, d := range dead {
		if d[0] != kindPanic || !strings.Contains(d[1], "boom") {
			t.Errorf("dead letter %s: %v", id, d)
		}
	}
	if n := testutil.ToFloat64(c.m.panics); n < 2 {
		t.Errorf("worker_batch_panics_total = %v, want at least 2", n)
	}

	// Now every write panics: not one vote's doing.
	store.all.Store(true)
	more := r.add(randomVotes(26, 50, 20)...)
	testkit.Until(t, 20*time.Second, "the worker to report the panics", func() error {
		if err := c.health.Check(context.Background()); err == nil || !strings.Contains(err.Error(), "panic") {
			return fmt.Errorf("readiness: %v", err)
		}
		return nil
	})
	if n := len(r.deadLetters()); n != 2 {
		t.Fatalf("%d dead letters while every write panicked; want still 2", n)
	}
	store.all.Store(false)
	r.waitStored(merge(want, more), 30*time.Second)
}

// While Postgres is down the worker's stall is visible: the oldest entry's age grows, the
// failures are counted, and once nothing has been committed for STALL_AFTER with entries waiting,
// /readyz fails with the reason. When Postgres is back it catches up and is ready again.
func TestAStallIsVisible(t *testing.T) {
	pg := testkit.StartPostgres(t)
	url, prefix := testkit.Redis(t)
	r := newRig(t, pg.URL(t), url, prefix)
	c := r.consumer("w1", fastSettings)
	stop := r.start(c)
	defer stop()
	first := r.add(randomVotes(27, 50, 20)...)
	r.waitStored(first, 20*time.Second)
	if err := c.health.Check(context.Background()); err != nil {
		t.Fatalf("not ready before the outage: %v", err)
	}

	pg.Stop(t)
	second := r.add(randomVotes(28, 80, 30)...)
	testkit.Until(t, 20*time.Second, "the stall to be reported", func() error {
		err := c.health.Check(context.Background())
		if err == nil || !strings.Contains(err.Error(), "stalled") {
			return fmt.Errorf("readiness: %v", err)
		}
		if testutil.ToFloat64(c.m.stalled) != 1 {
			return fmt.Errorf("worker_stalled = %v", testutil.ToFloat64(c.m.stalled))
		}
		return nil
	})
	if age := testutil.ToFloat64(c.m.oldestAge); age < fastSettings.StallAfter.Seconds() {
		t.Errorf("worker_oldest_pending_age_seconds = %v, want at least %v", age, fastSettings.StallAfter.Seconds())
	}
	if n := testutil.ToFloat64(c.m.consecutive.WithLabelValues("postgres")); n < 2 {
		t.Errorf("worker_consecutive_failures{dependency=postgres} = %v", n)
	}

	pg.Start(t)
	r.waitStored(merge(first, second), 30*time.Second)
	testkit.Until(t, 10*time.Second, "ready, not stalled, failures reset", func() error {
		if err := c.health.Check(context.Background()); err != nil {
			return err
		}
		if testutil.ToFloat64(c.m.stalled) != 0 || testutil.ToFloat64(c.m.consecutive.WithLabelValues("postgres")) != 0 {
			return fmt.Errorf("stalled %v, failures %v", testutil.ToFloat64(c.m.stalled),
				testutil.ToFloat64(c.m.consecutive.WithLabelValues("postgres")))
		}
		return nil
	})
}

// Redis loses its data and comes back on a host whose clock is behind the positions already
// stored. The worker creates the stream again above them, so a voter's newer vote still wins.
func TestNewerVoteWinsAfterRedisLosesItsData(t *testing.T) {
	rs := testkit.StartRedis(t, false)
	r := newRig(t, testkit.Postgres(t), rs.URL(), "t:")
	ctx := context.Background()
	const voter = "0123456789abcdef0123456789abcdef"
	// Stored by a Redis whose clock ran an hour ahead.
	ahead := time.Now().Add(time.Hour).UnixMilli()
	if err := r.rdb.XAdd(ctx, &redis.XAddArgs{Stream: r.stream, ID: fmt.Sprintf("%d-0", ahead),
		Values: []any{"voter", voter, "vote", "a", "ts", fmt.Sprint(ahead)}}).Err(); err != nil {
		t.Fatal(err)
	}
	c := r.consumer("w1", fastSettings)
	stop := r.start(c)
	defer stop()
	r.waitStored(map[string]string{voter: "a"}, 20*time.Second)

	// The data is gone; the new Redis's clock is an hour behind what was stored.
	rs.Stop(t)
	rs.Start(t)
	want := r.add(cast{voter, "b"}, cast{"fedcba9876543210fedcba9876543210", "a"})
	r.waitStored(want, 20*time.Second)
	pos, err := c.store.LastPosition(ctx)
	if err != nil || pos.Ms < ahead {
		t.Fatalf("newest stored position %v, %v; want at or after %d", pos, err, ahead)
	}
}
