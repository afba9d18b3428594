package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/go-voting-app/voting-app/platform/ballot"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ReadSnapshot runs fn in a read-only, repeatable-read transaction: the queries of one answer see
// one snapshot, so figures computed from several queries agree with each other while votes keep
// arriving. Bound it with ctx; the pool's StatementTimeout bounds each statement on the server.
func ReadSnapshot(ctx context.Context, pool *pgxpool.Pool, fn func(q Querier) error) error {
	tx, err := pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// BucketVotes is the number of votes for one option cast in one time bucket.
type BucketVotes struct {
	Start  time.Time
	Option string
	Votes  int64
}

// VotesPerBucket counts the votes cast in [from, to) per option and per bucket of the given width,
// buckets aligned on from, at most maxRows rows, from the rollup: from, to and the width must be
// whole multiples of RollupInterval, and the cost is one row per RollupInterval of the range and
// option, whatever the number of votes. Only the ballot's keys are counted, which also bounds the
// rows to buckets × options. Votes are every vote cast, so a voter who changes their mind counts
// once per vote.
func VotesPerBucket(ctx context.Context, q Querier, from, to time.Time, bucket time.Duration, keys []string, maxRows int) ([]BucketVotes, error) {
	rows, err := q.Query(ctx, `
		SELECT date_bin($1::interval, bucket, $2::timestamptz) AS b, vote, sum(votes)::int8
		FROM vote_rollup
		WHERE bucket >= $2 AND bucket < $3 AND vote = ANY($4)
		GROUP BY 1, 2
		ORDER BY 1, 2
		LIMIT $5`,
		bucket, from, to, keys, maxRows)
	if err != nil {
		return nil, fmt.Errorf("votes per bucket: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (BucketVotes, error) {
		var b BucketVotes
		err := row.Scan(&b.Start, &b.Option, &b.Votes)
		b.Start = b.Start.UTC()
		return b, err
	})
	if err != nil {
		return nil, fmt.Errorf("votes per bucket: %w", err)
	}
	return out, nil
}

// VotesSince counts the votes cast per option from the RollupInterval that holds since on.
func VotesSince(ctx context.Context, q Querier, since time.Time, keys []string) (map[string]int64, error) {
	rows, err := q.Query(ctx, `
		SELECT vote, sum(votes)::int8 FROM vote_rollup
		WHERE bucket >= vote_rollup_bucket($1) AND vote = ANY($2)
		GROUP BY vote`, since, keys)
	if err != nil {
		return nil, fmt.Errorf("recent votes: %w", err)
	}
	counts := make(map[string]int64, len(keys))
	var (
		key string
		n   int64
	)
	if _, err := pgx.ForEachRow(rows, []any{&key, &n}, func() error { counts[key] = n; return nil }); err != nil {
		return nil, fmt.Errorf("recent votes: %w", err)
	}
	return counts, nil
}

// Changer is a voter whose stored vote changed option repeatedly. Voter holds the redacted id only:
// the full id never leaves Changers.
type Changer struct {
	Voter   string
	Changes int64     // times the stored vote changed option
	LastAt  time.Time // cast time of the vote that made the last change
}

// Changers finds the voters whose stored vote changed option at least minChanges times and last in
// [from, to), most changes first, at most limit of them, and how many there are in all. The
// counts are kept by a trigger on votes (migration 00004), so the cost is an index range over the
// voters who changed in the window.
func Changers(ctx context.Context, q Querier, from, to time.Time, minChanges, limit int64) ([]Changer, int64, error) {
	rows, err := q.Query(ctx, `
		SELECT voter_id, changes, last_changed_at, count(*) OVER () AS total
		FROM voter_changes
		WHERE last_changed_at >= $1 AND last_changed_at < $2 AND changes >= $3
		ORDER BY changes DESC, last_changed_at DESC, voter_id
		LIMIT $4`,
		from, to, minChanges, limit)
	if err != nil {
		return nil, 0, fmt.Errorf("vote changers: %w", err)
	}
	var (
		out   []Changer
		total int64
		voter string
		c     Changer
	)
	_, err = pgx.ForEachRow(rows, []any{&voter, &c.Changes, &c.LastAt, &total}, func() error {
		c.Voter = ballot.Redact(voter)
		c.LastAt = c.LastAt.UTC()
		out = append(out, c)
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("vote changers: %w", err)
	}
	return out, total, nil
}

// DataVersion is a number that changes whenever a batch stores votes (the rows vote_history has
// gained, kept in one row by a trigger): a reader caches what it computed with it, and names it
// in ETags.
func DataVersion(ctx context.Context, q Querier) (int64, error) {
	var v int64
	if err := q.QueryRow(ctx, `SELECT history_rows FROM vote_stats`).Scan(&v); err != nil {
		return 0, fmt.Errorf("data version: %w", err)
	}
	return v, nil
}

// RollupInterval is the width of the intervals in vote_rollup (migration 00003): the resolution of
// the live chart and of the analyzer's timelines.
const RollupInterval = 10 * time.Second

// RecentVotes returns the votes cast per option in each RollupInterval from since on, oldest
// first, from the rollup the triggers keep: a few rows per interval, whatever the number of votes.
// Intervals without votes are absent.
func RecentVotes(ctx context.Context, q Querier, since time.Time) ([]BucketVotes, error) {
	rows, err := q.Query(ctx, `SELECT bucket, vote, votes FROM vote_rollup
		WHERE bucket >= vote_rollup_bucket($1) ORDER BY bucket, vote`, since)
	if err != nil {
		return nil, fmt.Errorf("recent votes: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (BucketVotes, error) {
		var b BucketVotes
		err := row.Scan(&b.Start, &b.Option, &b.Votes)
		b.Start = b.Start.UTC()
		return b, err
	})
	if err != nil {
		return nil, fmt.Errorf("recent votes: %w", err)
	}
	return out, nil
}
