package postgres

import (
	"context"
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
// keep the tally and NOTIFY readers, on commit.
func (s *Store) Apply(ctx context.Context, votes []ballot.Vote) (int64, error) {
	if len(votes) == 0 {
		return 0, nil
	}
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

	// A pgx batch is one round trip and runs as one implicit transaction: both statements commit
	// together or not at all.
	var changed int64
	b := &pgx.Batch{}
	b.Queue(upsertVotes, ids, opts, ms, seq, at).Exec(func(ct pgconn.CommandTag) error {
		changed = ct.RowsAffected()
		return nil
	})
	b.Queue(appendHistory, hms, hseq, hids, hopts, hat)
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return 0, fmt.Errorf("apply batch of %d votes: %w", len(votes), err)
	}
	return changed, nil
}
