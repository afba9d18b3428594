package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/go-voting-app/voting-app/platform/ballot"
	"github.com/go-voting-app/voting-app/platform/ops"
	"github.com/go-voting-app/voting-app/platform/postgres"
	"github.com/go-voting-app/voting-app/platform/postgres/migrations"
	"github.com/go-voting-app/voting-app/platform/queue"
	"github.com/go-voting-app/voting-app/testkit"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// rig is one test's world: a migrated database, a Redis key prefix, and the stream's names.
type rig struct {
	t        testing.TB
	url      string // the database
	redisURL string
	prefix   string // of every Redis key the test uses
	pool     *pgxpool.Pool
	rdb      *redis.Client
	stream   string
	group    string
	dead     string
	legacy   string
}

func newRig(t testing.TB, dbURL, redisURL, prefix string) *rig {
	t.Helper()
	ctx := context.Background()
	pool, err := postgres.Open(ctx, postgres.Config{URL: dbURL, AppName: "worker-test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := migrations.Up(ctx, pool, quietLog()); err != nil {
		t.Fatal(err)
	}
	opts, err := redis.ParseURL(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	t.Cleanup(func() { rdb.Close() })
	r := &rig{t: t, url: dbURL, redisURL: redisURL, prefix: prefix, pool: pool, rdb: rdb, stream: prefix + "votes", group: "workers",
		dead: prefix + "votes:dead", legacy: prefix + "classic"}
	// The stream exists, as after a worker's first start, so votes can be added before one runs.
	g := queue.NewGroup(rdb, queue.GroupConfig{Stream: r.stream, Group: r.group, Consumer: "rig"})
	if _, err := g.EnsureGroup(ctx, ballot.Position{}); err != nil {
		t.Fatal(err)
	}
	return r
}

// defaultRig uses the package's shared servers.
func defaultRig(t testing.TB) *rig {
	url, prefix := testkit.Redis(t)
	return newRig(t, testkit.Postgres(t), url, prefix)
}

func quietLog() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

var fastSettings = consumerSettings{
	BatchSize:   100,
	Block:       50 * time.Millisecond,
	ClaimIdle:   200 * time.Millisecond,
	ClaimEvery:  50 * time.Millisecond,
	TrimEvery:   20 * time.Millisecond,
	MaxBackoff:  50 * time.Millisecond,
	StallAfter:  time.Second,
	Concurrency: 2,
}

func (r *rig) consumer(name string, cs consumerSettings) *consumer {
	return r.consumerOn(name, cs, r.pool)
}

// consumerOn is a consumer that writes through pool, perhaps with another role than the rig's.
func (r *rig) consumerOn(name string, cs consumerSettings, pool *pgxpool.Pool) *consumer {
	return &consumer{
		stream: queue.NewGroup(r.rdb, queue.GroupConfig{Stream: r.stream, Group: r.group, Consumer: name, Legacy: r.legacy}),
		store:  postgres.NewStore(pool),
		log:    quietLog().With("consumer", name),
		m:      newMetrics(ops.NewRegistry("worker")),
		cfg:    cs,
		health: newHealth(cs.StallAfter, time.Now()),
	}
}

// start runs a consumer until the returned stop function is called; stop waits for it to return.
func (r *rig) start(c *consumer) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	return func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				r.t.Errorf("consumer returned %v", err)
			}
		case <-time.After(30 * time.Second):
			r.t.Fatal("consumer did not stop within 30s")
		}
	}
}

// cast is one vote as a test sends it.
type cast struct{ voter, option string }

// add XADDs votes in order, as the vote service would, and returns what each voter's final vote
// must be (the last one in stream order).
func (r *rig) add(votes ...cast) map[string]string {
	r.t.Helper()
	want := map[string]string{}
	casts := make([]queue.Cast, len(votes))
	for i, v := range votes {
		casts[i] = queue.Cast{Voter: ballot.VoterID(v.voter), Option: v.option, At: time.Now()}
		want[v.voter] = v.option
	}
	// Only a worker creates the stream; like a voter who got a 503, try again until one has.
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, err := queue.NewStream(r.rdb, r.stream).Append(context.Background(), casts...)
		if err == nil {
			return want
		}
		if !errors.Is(err, queue.ErrNoStream) || time.Now().After(deadline) {
			r.t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// randomVotes returns n votes from the given number of voters, many of whom change their mind.
func randomVotes(seed uint64, n, voters int) []cast {
	rng := rand.New(rand.NewPCG(seed, seed))
	out := make([]cast, n)
	for i := range out {
		out[i] = cast{voter: fmt.Sprintf("%032x", rng.IntN(voters)), option: []string{"a", "b"}[rng.IntN(2)]}
	}
	return out
}

func merge(ms ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// stored reads every voter's stored vote.
func (r *rig) stored() map[string]string {
	r.t.Helper()
	rows, err := r.pool.Query(context.Background(), `SELECT id, vote FROM votes`)
	if err != nil {
		r.t.Fatal(err)
	}
	got := map[string]string{}
	var id, vote string
	if _, err := pgx.ForEachRow(rows, []any{&id, &vote}, func() error { got[id] = vote; return nil }); err != nil {
		r.t.Fatal(err)
	}
	return got
}

// waitStored waits until the stored votes equal want exactly, per voter, and the totals agree.
func (r *rig) waitStored(want map[string]string, timeout time.Duration) {
	r.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := r.stored()
		if equalVotes(got, want) {
			r.checkTotals(want)
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("after %s: %d voters stored, want %d; first difference: %s", timeout, len(got), len(want), firstDiff(got, want))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (r *rig) checkTotals(want map[string]string) {
	r.t.Helper()
	totals, err := postgres.Totals(context.Background(), r.pool)
	if err != nil {
		r.t.Fatal(err)
	}
	exp := map[string]int64{}
	for _, o := range want {
		exp[o]++
	}
	if totals["a"] != exp["a"] || totals["b"] != exp["b"] {
		r.t.Fatalf("totals %v, want %v", totals, exp)
	}
}

func equalVotes(got, want map[string]string) bool {
	if len(got) != len(want) {
		return false
	}
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

func firstDiff(got, want map[string]string) string {
	for k, v := range want {
		if got[k] != v {
			return fmt.Sprintf("voter %s stored %q, want %q", ballot.Redact(k), got[k], v)
		}
	}
	for k, v := range got {
		if _, ok := want[k]; !ok {
			return fmt.Sprintf("unexpected voter %s = %q", ballot.Redact(k), v)
		}
	}
	return "none"
}

// pending returns how many entries the group holds unacknowledged.
func (r *rig) pending() int64 {
	r.t.Helper()
	p, err := r.rdb.XPending(context.Background(), r.stream, r.group).Result()
	if err != nil {
		r.t.Fatal(err)
	}
	return p.Count
}

func (r *rig) historyCount() int64 {
	r.t.Helper()
	var n int64
	if err := r.pool.QueryRow(context.Background(), `SELECT count(*) FROM vote_history`).Scan(&n); err != nil {
		r.t.Fatal(err)
	}
	return n
}

func decodeAll(t *testing.T, msgs []queue.Entry) []ballot.Vote {
	t.Helper()
	out := make([]ballot.Vote, 0, len(msgs))
	for _, m := range msgs {
		v, err := queue.Decode(m)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	return out
}
