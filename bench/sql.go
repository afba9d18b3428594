package main

// The worker's statements, word for word (worker/store.go; sql_test.go fails when they differ).
// The drain ceiling runs them straight from Go, so the only difference from the worker is what
// the worker does around them: Redis reads and acknowledgements, decoding, trimming.
const upsertVotes = `
INSERT INTO votes AS v (id, vote, stream_ms, stream_seq, cast_at, updated_at)
SELECT id, vote, ms, seq, cast_at, now()
FROM unnest($1::text[], $2::text[], $3::int8[], $4::int8[], $5::timestamptz[]) AS i(id, vote, ms, seq, cast_at)
ON CONFLICT (id) DO UPDATE
SET vote = EXCLUDED.vote, stream_ms = EXCLUDED.stream_ms, stream_seq = EXCLUDED.stream_seq,
    cast_at = EXCLUDED.cast_at, updated_at = now()
WHERE (v.stream_ms, v.stream_seq) < (EXCLUDED.stream_ms, EXCLUDED.stream_seq)`

const appendHistory = `
INSERT INTO vote_history (stream_ms, stream_seq, voter_id, vote, cast_at)
SELECT * FROM unnest($1::int8[], $2::int8[], $3::text[], $4::text[], $5::timestamptz[])
ON CONFLICT DO NOTHING`
