package postgres_test

import (
	"context"
	"maps"
	"testing"
	"time"

	"github.com/go-voting-app/voting-app/platform/ballot"
	"github.com/go-voting-app/voting-app/platform/postgres"
	"github.com/go-voting-app/voting-app/platform/postgres/migrations"
	"github.com/go-voting-app/voting-app/testkit"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

func vote(ms int64, voter, option string) ballot.Vote {
	return ballot.Vote{Position: ballot.Position{Ms: ms}, Voter: voter, Option: option, CastAt: time.UnixMilli(ms).UTC()}
}

// migrated returns a store on a new, migrated database, and the pool under it.
func migrated(t *testing.T) (*postgres.Store, *pgxpool.Pool) {
	t.Helper()
	pool := open(t, testkit.Postgres(t))
	if err := migrations.Up(context.Background(), pool, quiet); err != nil {
		t.Fatal(err)
	}
	return postgres.NewStore(pool), pool
}

// stored reads every voter's stored vote.
func stored(t *testing.T, pool *pgxpool.Pool) map[string]string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT id, vote FROM votes`)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	var id, v string
	if _, err := pgx.ForEachRow(rows, []any{&id, &v}, func() error { got[id] = v; return nil }); err != nil {
		t.Fatal(err)
	}
	return got
}

func historyCount(t *testing.T, pool *pgxpool.Pool) int64 {
	t.Helper()
	var n int64
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM vote_history`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// checkTotals compares vote_totals with the stored votes.
func checkTotals(t *testing.T, pool *pgxpool.Pool, want map[string]string) {
	t.Helper()
	totals, err := postgres.Totals(context.Background(), pool)
	if err != nil {
		t.Fatal(err)
	}
	exp := map[string]int64{}
	for _, o := range want {
		exp[o]++
	}
	if totals["a"] != exp["a"] || totals["b"] != exp["b"] {
		t.Fatalf("totals %v, want %v", totals, exp)
	}
}

func TestApplyLastVoteWinsWhateverTheBatchOrder(t *testing.T) {
	tests := []struct {
		name    string
		batches [][]ballot.Vote
		want    map[string]string
	}{
		{"in order", [][]ballot.Vote{
			{vote(1, "x", "a")}, {vote(2, "x", "b")},
		}, map[string]string{"x": "b"}},
		{"newer batch first, older second", [][]ballot.Vote{
			{vote(2, "x", "b"), vote(5, "y", "a")}, {vote(1, "x", "a"), vote(3, "y", "b")},
		}, map[string]string{"x": "b", "y": "a"}},
		{"inside one batch, out of order", [][]ballot.Vote{
			{vote(9, "x", "a"), vote(4, "x", "b"), vote(7, "x", "b")},
		}, map[string]string{"x": "a"}},
		{"same millisecond, sequence decides", [][]ballot.Vote{
			{{Position: ballot.Position{Ms: 5, Seq: 1}, Voter: "x", Option: "b", CastAt: time.UnixMilli(5)}},
			{{Position: ballot.Position{Ms: 5, Seq: 0}, Voter: "x", Option: "a", CastAt: time.UnixMilli(5)}},
		}, map[string]string{"x": "b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, pool := migrated(t)
			for _, b := range tt.batches {
				if _, err := s.Apply(context.Background(), b); err != nil {
					t.Fatal(err)
				}
			}
			if got := stored(t, pool); !maps.Equal(got, tt.want) {
				t.Fatalf("stored %v, want %v", got, tt.want)
			}
			checkTotals(t, pool, tt.want)
		})
	}
}

func TestApplyReplayChangesNothing(t *testing.T) {
	s, pool := migrated(t)
	ctx := context.Background()
	batch := []ballot.Vote{vote(1, "x", "a"), vote(2, "y", "b"), vote(3, "x", "b"), vote(4, "z", "a")}
	changed, err := s.Apply(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	if changed != 3 {
		t.Fatalf("first apply changed %d voters, want 3", changed)
	}
	before, history := stored(t, pool), historyCount(t, pool)
	for range 3 {
		changed, err := s.Apply(ctx, batch)
		if err != nil {
			t.Fatal(err)
		}
		if changed != 0 {
			t.Fatalf("replay changed %d voters, want 0", changed)
		}
	}
	if got := stored(t, pool); !maps.Equal(got, before) {
		t.Fatalf("replay changed votes: %v, before %v", got, before)
	}
	if h := historyCount(t, pool); h != history || h != int64(len(batch)) {
		t.Fatalf("history has %d rows after replays, want %d", h, len(batch))
	}
	checkTotals(t, pool, before)
}

// A failed transaction leaves no trace: neither votes nor history.
func TestApplyIsAllOrNothing(t *testing.T) {
	s, pool := migrated(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Apply(ctx, []ballot.Vote{vote(1, "x", "a")}); err == nil {
		t.Fatal("apply with a cancelled context succeeded")
	}
	if len(stored(t, pool)) != 0 || historyCount(t, pool) != 0 {
		t.Fatal("a failed apply left rows behind")
	}
}
