package postgres_test

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

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
	rollupsMatchHistory(t, pool)
}

// rollupsMatchHistory: each rollup table holds exactly the history's votes per interval of its
// width, aligned on the Unix epoch.
func rollupsMatchHistory(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	for table, width := range map[string]string{"vote_rollup": "10 s", "vote_rollup_minute": "1 min", "vote_rollup_hour": "1 h"} {
		var diff int
		if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM (
			(SELECT date_bin($1::interval, cast_at, 'epoch') AS bucket, vote, count(*) AS votes FROM vote_history GROUP BY 1, 2
			 EXCEPT SELECT bucket, vote, votes FROM `+table+`)
			UNION ALL
			(SELECT bucket, vote, votes FROM `+table+`
			 EXCEPT SELECT date_bin($1::interval, cast_at, 'epoch'), vote, count(*) FROM vote_history GROUP BY 1, 2)) d`,
			width).Scan(&diff); err != nil || diff != 0 {
			t.Errorf("%s and the history counted per %s differ in %d rows (%v)", table, width, diff, err)
		}
	}
}

// Whatever the range and the bucket width, the rollups answer what a GROUP BY over the history
// answers: votes cast at random seconds over three days (some in the future), asked about ranges
// that start and end anywhere on the 10-second grid, in buckets of every kind of width (within an
// interval of each level, whole minutes, whole hours, neither).
func TestRollupLevelsAgreeWithTheHistory(t *testing.T) {
	s, pool := migrated(t)
	ctx := context.Background()
	r := rand.New(rand.NewPCG(1, 2))
	base := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	span := 72 * time.Hour
	var votes []ballot.Vote
	for i := range 5000 {
		at := base.Add(time.Duration(r.Int64N(int64(span/time.Second))) * time.Second)
		votes = append(votes, ballot.Vote{Position: ballot.Position{Ms: base.UnixMilli(), Seq: int64(i)},
			Voter: fmt.Sprintf("v%d", r.IntN(800)), Option: []string{"a", "b", "c"}[r.IntN(3)], CastAt: at})
	}
	for i := 0; i < len(votes); i += 500 {
		if _, err := s.Apply(ctx, votes[i:i+500]); err != nil {
			t.Fatal(err)
		}
	}
	rollupsMatchHistory(t, pool)
	keys := []string{"a", "b"} // c is not on the ballot
	grid := func(d time.Duration) time.Duration { return d.Truncate(postgres.RollupInterval) }
	widths := []time.Duration{10 * time.Second, 50 * time.Second, time.Minute, 7 * time.Minute, 10*time.Minute + 10*time.Second,
		time.Hour, 90 * time.Minute, 5 * time.Hour, 24 * time.Hour}
	for i := range 60 {
		bucket := widths[i%len(widths)]
		from := base.Add(grid(time.Duration(r.Int64N(int64(span))) - 2*time.Hour))
		to := from.Add(grid(time.Duration(r.Int64N(int64(min(1000*bucket, span+4*time.Hour))))) + postgres.RollupInterval)
		got, err := postgres.VotesPerBucket(ctx, pool, from, to, bucket, keys, 1_000_000)
		if err != nil {
			t.Fatal(err)
		}
		want := historyBuckets(t, pool, from, to, bucket, keys)
		if !slices.EqualFunc(got, want, sameBucket) {
			t.Fatalf("[%s, %s) in buckets of %s:\n got %v\nwant %v", from.Format(time.RFC3339), to.Format(time.RFC3339), bucket, got, want)
		}

		since := base.Add(time.Duration(r.Int64N(int64(span))))
		counts, err := postgres.VotesSince(ctx, pool, since, keys)
		if err != nil {
			t.Fatal(err)
		}
		wantCounts := map[string]int64{}
		for _, v := range votes {
			if !v.CastAt.Before(since.Truncate(postgres.RollupInterval)) && slices.Contains(keys, v.Option) {
				wantCounts[v.Option]++
			}
		}
		if !maps.Equal(counts, wantCounts) {
			t.Fatalf("votes since %s: %v, want %v", since.Format(time.RFC3339), counts, wantCounts)
		}
	}
}

// historyBuckets is VotesPerBucket the slow way: every history row in the range.
func historyBuckets(t *testing.T, pool *pgxpool.Pool, from, to time.Time, bucket time.Duration, keys []string) []postgres.BucketVotes {
	t.Helper()
	rows, err := pool.Query(context.Background(), `
		SELECT date_bin($1::interval, cast_at, $2::timestamptz) AS b, vote, count(*)
		FROM vote_history WHERE cast_at >= $2 AND cast_at < $3 AND vote = ANY($4)
		GROUP BY 1, 2 ORDER BY 1, 2`, bucket, from, to, keys)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (postgres.BucketVotes, error) {
		var b postgres.BucketVotes
		err := row.Scan(&b.Start, &b.Option, &b.Votes)
		return b, err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sameBucket(a, b postgres.BucketVotes) bool {
	return a.Start.Equal(b.Start) && a.Option == b.Option && a.Votes == b.Votes
}
