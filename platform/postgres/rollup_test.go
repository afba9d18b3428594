package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/go-voting-app/voting-app/platform/ballot"
	"github.com/go-voting-app/voting-app/platform/postgres"
)

// The rollup counts every vote the history gains, in its 10-second interval, once: replays and
// out-of-order batches add nothing, and it always equals a GROUP BY over the history.
func TestRollupFollowsTheHistory(t *testing.T) {
	s, pool := migrated(t)
	ctx := context.Background()
	base := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	at := func(sec int) time.Time { return base.Add(time.Duration(sec) * time.Second) }
	v := func(seq int64, voter, option string, sec int) ballot.Vote {
		return ballot.Vote{Position: ballot.Position{Ms: base.UnixMilli(), Seq: seq}, Voter: voter, Option: option, CastAt: at(sec)}
	}
	batches := [][]ballot.Vote{
		{v(1, "x", "a", 1), v(2, "y", "b", 3), v(3, "x", "b", 9)},
		{v(4, "z", "a", 10), v(5, "y", "a", 25)},
		{v(2, "y", "b", 3), v(4, "z", "a", 10)}, // a replay
	}
	for _, b := range batches {
		if _, err := s.Apply(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	got, err := postgres.RecentVotes(ctx, pool, at(0))
	if err != nil {
		t.Fatal(err)
	}
	want := []postgres.BucketVotes{
		{Start: at(0), Option: "a", Votes: 1}, {Start: at(0), Option: "b", Votes: 2},
		{Start: at(10), Option: "a", Votes: 1},
		{Start: at(20), Option: "a", Votes: 1},
	}
	if len(got) != len(want) {
		t.Fatalf("rollup %+v, want %+v", got, want)
	}
	for i := range want {
		if !got[i].Start.Equal(want[i].Start) || got[i].Option != want[i].Option || got[i].Votes != want[i].Votes {
			t.Fatalf("rollup row %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	// Later intervals only, from any moment within one.
	if later, err := postgres.RecentVotes(ctx, pool, at(12)); err != nil || len(later) != 2 {
		t.Fatalf("from 12 s: %+v, %v; want the intervals at 10 s and 20 s", later, err)
	}
	var diff int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM (
		SELECT vote_rollup_bucket(cast_at) AS bucket, vote, count(*) AS votes FROM vote_history GROUP BY 1, 2
		EXCEPT SELECT bucket, vote, votes FROM vote_rollup) d`).Scan(&diff); err != nil || diff != 0 {
		t.Fatalf("rollup and history differ in %d rows (%v)", diff, err)
	}
}
