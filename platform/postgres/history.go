package postgres

import (
	"context"
	"fmt"
	"strings"
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
// buckets aligned on from, at most maxRows rows: from, to and the width must be whole multiples of
// RollupInterval. Each bucket is read as the fewest whole intervals of the rollups that cover it
// (cover), so the cost is at most a few dozen rows per bucket and option, and one per hour of the
// range, whatever the number of votes. Only the ballot's keys are counted, which also bounds the
// rows to buckets × options. Votes are every vote cast, so a voter who changes their mind counts
// once per vote.
func VotesPerBucket(ctx context.Context, q Querier, from, to time.Time, bucket time.Duration, keys []string, maxRows int) ([]BucketVotes, error) {
	var segs coverSegments
	for b := from; b.Before(to); b = b.Add(bucket) {
		segs.add(b, minTime(b.Add(bucket), to))
	}
	args := append([]any{bucket, from, keys, maxRows}, segs.args()...)
	rows, err := q.Query(ctx, `
		SELECT date_bin($1::interval, bucket, $2::timestamptz) AS b, vote, sum(votes)::int8
		FROM (`+rollupUnion(5)+`) r
		WHERE vote = ANY($3)
		GROUP BY 1, 2
		ORDER BY 1, 2
		LIMIT $4`, args...)
	return collectBuckets(rows, err, "votes per bucket")
}

// collectBuckets reads the (start, option, votes) rows of a query that returned rows and err.
func collectBuckets(rows pgx.Rows, err error, what string) ([]BucketVotes, error) {
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (BucketVotes, error) {
		var b BucketVotes
		err := row.Scan(&b.Start, &b.Option, &b.Votes)
		b.Start = b.Start.UTC()
		return b, err
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

// VotesSince counts the votes cast per option from the RollupInterval that holds since on, cast
// times in the future included, at the same bounded cost as VotesPerBucket.
func VotesSince(ctx context.Context, q Querier, since time.Time, keys []string) (map[string]int64, error) {
	var segs coverSegments
	segs.add(since.UTC().Truncate(RollupInterval), endOfTime)
	rows, err := q.Query(ctx, `
		SELECT vote, sum(votes)::int8 FROM (`+rollupUnion(2)+`) r
		WHERE vote = ANY($1)
		GROUP BY vote`, append([]any{keys}, segs.args()...)...)
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

// rollupLevels are the rollup tables of migration 00003, finest first, and the width of their
// intervals; each width divides the next.
var rollupLevels = []struct {
	table string
	width time.Duration
}{
	{"vote_rollup", RollupInterval},
	{"vote_rollup_minute", time.Minute},
	{"vote_rollup_hour", time.Hour},
}

// endOfTime is past any cast time the worker stores (it refuses years after 9999).
var endOfTime = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)

// coverSegments is, per rollup level, ranges [lo, hi) of whole intervals of that level; together
// they cover the ranges added to them once each.
type coverSegments [3]struct{ lo, hi []time.Time }

// add covers [from, to), both multiples of the finest level's width, with the fewest whole
// intervals: the coarsest level takes the middle, finer ones the ends. Ranges that meet at a
// level's boundary are merged, so adjacent buckets share segments.
func (c *coverSegments) add(from, to time.Time) {
	var walk func(level int, from, to time.Time)
	walk = func(level int, from, to time.Time) {
		if !from.Before(to) {
			return
		}
		w := rollupLevels[level].width
		lo, hi := ceilTo(from, w), to.Truncate(w)
		if level == 0 || !lo.Before(hi) {
			if level > 0 {
				walk(level-1, from, to)
				return
			}
			lo, hi = from, to
		}
		walk(level-1, from, lo)
		c.append(level, lo, hi)
		walk(level-1, hi, to)
	}
	walk(len(rollupLevels)-1, from.UTC(), to.UTC())
}

func (c *coverSegments) append(level int, lo, hi time.Time) {
	s := &c[level]
	if n := len(s.hi); n > 0 && s.hi[n-1].Equal(lo) {
		s.hi[n-1] = hi
		return
	}
	s.lo, s.hi = append(s.lo, lo), append(s.hi, hi)
}

// args are the query arguments of rollupUnion: each level's lows and highs.
func (c *coverSegments) args() []any {
	var a []any
	for _, s := range c {
		a = append(a, s.lo, s.hi)
	}
	return a
}

// rollupUnion selects (bucket, vote, votes) from every level's segments, whose bounds are the
// query's arguments from $first on (coverSegments.args). Each segment is one index range scan.
func rollupUnion(first int) string {
	var parts []string
	for i, l := range rollupLevels {
		parts = append(parts, fmt.Sprintf(`SELECT r.bucket, r.vote, r.votes
			FROM unnest($%d::timestamptz[], $%d::timestamptz[]) AS s(lo, hi)
			JOIN %s r ON r.bucket >= s.lo AND r.bucket < s.hi`, first+2*i, first+2*i+1, l.table))
	}
	return strings.Join(parts, "\n\t\tUNION ALL\n\t\t")
}

// ceilTo rounds t up to a multiple of w (from the Unix epoch).
func ceilTo(t time.Time, w time.Duration) time.Time {
	if f := t.Truncate(w); !f.Equal(t) {
		return f.Add(w)
	}
	return t
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
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
	return collectBuckets(rows, err, "recent votes")
}
