package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-voting-app/voting-app/platform/ballot"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Store is the votes as the worker writes them: the latest vote of each voter in votes (the
// classic app's table), every vote in vote_history, and through the triggers the totals in
// vote_totals and a NOTIFY on TotalsChannel.
type Store struct {
	pool *pgxpool.Pool
}

// NewStore returns the store on pool.
func NewStore(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

// upsertVotes stores each voter's vote unless the stored one came later in the stream. The WHERE on
// the conflict branch is what makes replays and out-of-order batches harmless: an older or equal
// stream ID never overwrites. Rows arrive sorted by voter, so concurrent workers lock voters in the
// same order and cannot deadlock.
const upsertVotes = `
INSERT INTO votes AS v (id, vote, stream_ms, stream_seq, cast_at, updated_at)
SELECT id, vote, ms, seq, cast_at, now()
FROM unnest($1::text[], $2::text[], $3::int8[], $4::int8[], $5::timestamptz[]) AS i(id, vote, ms, seq, cast_at)
ON CONFLICT (id) DO UPDATE
SET vote = EXCLUDED.vote, stream_ms = EXCLUDED.stream_ms, stream_seq = EXCLUDED.stream_seq,
    cast_at = EXCLUDED.cast_at, updated_at = now()
WHERE (v.stream_ms, v.stream_seq) < (EXCLUDED.stream_ms, EXCLUDED.stream_seq)`

// appendHistory records every vote of the batch, keyed by stream ID, so a replay adds nothing.
const appendHistory = `
INSERT INTO vote_history (stream_ms, stream_seq, voter_id, vote, cast_at)
SELECT * FROM unnest($1::int8[], $2::int8[], $3::text[], $4::text[], $5::timestamptz[])
ON CONFLICT DO NOTHING`

// Apply writes a batch in one transaction: the latest vote per voter into votes, and every vote
// into vote_history. It returns how many voters' stored votes changed. The vote_totals triggers
// keep the tally and NOTIFY readers, on commit. Any split of a batch applied in any order ends in
// the same state, since a vote only replaces an older one: a caller may apply parts of a batch
// that failed separately.
func (s *Store) Apply(ctx context.Context, votes []ballot.Vote) (int64, error) {
	if len(votes) == 0 {
		return 0, nil
	}
	// A pgx batch is one round trip and runs as one implicit transaction: both statements commit
	// together or not at all.
	b, changed := applyBatch(votes)
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return 0, fmt.Errorf("apply batch of %d votes: %w", len(votes), err)
	}
	return *changed, nil
}

// Try runs Apply's statements for votes in a transaction that is rolled back: it says whether the
// database would take them, and changes nothing (no row, no total, no notification). The worker
// asks it about a vote it knows is valid before it blames a failure on another vote's data.
func (s *Store) Try(ctx context.Context, votes []ballot.Vote) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("try %d votes: %w", len(votes), err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	b, _ := applyBatch(votes)
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("try %d votes: %w", len(votes), err)
	}
	return nil
}

func applyBatch(votes []ballot.Vote) (*pgx.Batch, *int64) {
	latest := ballot.Latest(votes)
	slices.SortFunc(latest, func(a, b ballot.Vote) int { return strings.Compare(a.Voter, b.Voter) })

	n := len(latest)
	ids, opts := make([]string, n), make([]string, n)
	ms, seq := make([]int64, n), make([]int64, n)
	at := make([]time.Time, n)
	for i, v := range latest {
		ids[i], opts[i], ms[i], seq[i], at[i] = v.Voter, v.Option, v.Position.Ms, v.Position.Seq, v.CastAt
	}

	h := len(votes)
	hms, hseq := make([]int64, h), make([]int64, h)
	hids, hopts := make([]string, h), make([]string, h)
	hat := make([]time.Time, h)
	for i, v := range votes {
		hms[i], hseq[i], hids[i], hopts[i], hat[i] = v.Position.Ms, v.Position.Seq, v.Voter, v.Option, v.CastAt
	}

	changed := new(int64)
	b := &pgx.Batch{}
	b.Queue(upsertVotes, ids, opts, ms, seq, at).Exec(func(ct pgconn.CommandTag) error {
		*changed = ct.RowsAffected()
		return nil
	})
	b.Queue(appendHistory, hms, hseq, hids, hopts, hat)
	return b, changed
}

// LastPosition is the position of the newest vote applied: the stream's floor, below which no new
// entry may fall (see queue.Group.EnsureGroup). Every applied vote is in vote_history, whose key
// is the position, so this is one step down an index.
func (s *Store) LastPosition(ctx context.Context) (ballot.Position, error) {
	var p ballot.Position
	err := s.pool.QueryRow(ctx, `SELECT stream_ms, stream_seq FROM vote_history
		ORDER BY stream_ms DESC, stream_seq DESC LIMIT 1`).Scan(&p.Ms, &p.Seq)
	if errors.Is(err, pgx.ErrNoRows) {
		return ballot.Position{}, nil
	}
	if err != nil {
		return ballot.Position{}, fmt.Errorf("newest stored vote: %w", err)
	}
	return p, nil
}
