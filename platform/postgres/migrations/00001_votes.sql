-- The classic app's table, kept column for column so its tools still read it: one row per voter
-- (id), holding the option key (vote). IF NOT EXISTS adopts a table the classic worker created.
-- +goose Up
CREATE TABLE IF NOT EXISTS votes (
    id   varchar(255) NOT NULL UNIQUE,
    vote varchar(255) NOT NULL
);

-- Position of the stored vote in the Redis stream. A vote replaces the stored one only when it
-- comes later in the stream, so the last vote wins whatever order batches are applied in, and a
-- replayed batch changes nothing. Adopted classic rows get 0-0: any new vote replaces them.
ALTER TABLE votes
    ADD COLUMN IF NOT EXISTS stream_ms  bigint      NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS stream_seq bigint      NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS cast_at    timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN IF NOT EXISTS updated_at timestamptz NOT NULL DEFAULT now();

-- Every vote ever applied, for the analyzer (timelines, flip-flopping voters). The stream ID is the
-- key, so a replayed entry is ignored.
CREATE TABLE vote_history (
    stream_ms   bigint       NOT NULL,
    stream_seq  bigint       NOT NULL,
    voter_id    varchar(255) NOT NULL,
    vote        varchar(255) NOT NULL,
    cast_at     timestamptz  NOT NULL,
    recorded_at timestamptz  NOT NULL DEFAULT now(),
    PRIMARY KEY (stream_ms, stream_seq)
);
CREATE INDEX vote_history_cast_at ON vote_history (cast_at);
CREATE INDEX vote_history_voter ON vote_history (voter_id, stream_ms, stream_seq);

-- +goose Down
DROP TABLE vote_history;
ALTER TABLE votes
    DROP COLUMN stream_ms,
    DROP COLUMN stream_seq,
    DROP COLUMN cast_at,
    DROP COLUMN updated_at;
