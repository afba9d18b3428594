-- Votes cast per option in every 10-second interval, and again per minute and per hour, kept by a
-- statement-level trigger on vote_history in the same transaction as the votes, so that the result
-- page's live chart and the analyzer's timelines read a few rows per interval instead of scanning
-- the history. A range of time is read as the fewest whole intervals of the three that cover it
-- (postgres.VotesPerBucket): a week is 168 hourly rows per option, not 60,480. Every row
-- vote_history gains adds one to its interval of each width; a replayed entry, which the history
-- ignores (ON CONFLICT DO NOTHING), is not in the trigger's transition table and adds nothing. Rows
-- are upserted in key order, so concurrent workers lock them in the same order and cannot deadlock.
-- Intervals are aligned on the Unix epoch, in UTC whatever the session's time zone.
-- +goose Up
CREATE TABLE vote_rollup (
    bucket timestamptz  NOT NULL, -- start of the 10-second interval of cast_at
    vote   varchar(255) NOT NULL,
    votes  bigint       NOT NULL,
    PRIMARY KEY (bucket, vote)
);
CREATE TABLE vote_rollup_minute (LIKE vote_rollup INCLUDING ALL);
CREATE TABLE vote_rollup_hour (LIKE vote_rollup INCLUDING ALL);

-- +goose StatementBegin
CREATE FUNCTION vote_rollup_floor(t timestamptz, seconds int) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT to_timestamp(floor(extract(epoch FROM t) / seconds) * seconds)
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION vote_rollup_bucket(t timestamptz) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT vote_rollup_floor(t, 10)
$$;
-- +goose StatementEnd

INSERT INTO vote_rollup (bucket, vote, votes)
SELECT vote_rollup_floor(cast_at, 10), vote, count(*) FROM vote_history GROUP BY 1, 2;
INSERT INTO vote_rollup_minute (bucket, vote, votes)
SELECT vote_rollup_floor(cast_at, 60), vote, count(*) FROM vote_history GROUP BY 1, 2;
INSERT INTO vote_rollup_hour (bucket, vote, votes)
SELECT vote_rollup_floor(cast_at, 3600), vote, count(*) FROM vote_history GROUP BY 1, 2;

-- +goose StatementBegin
CREATE FUNCTION vote_rollup_add() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO vote_rollup AS r (bucket, vote, votes)
    SELECT vote_rollup_floor(cast_at, 10), vote, count(*) FROM new_rows GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (bucket, vote) DO UPDATE SET votes = r.votes + EXCLUDED.votes;
    INSERT INTO vote_rollup_minute AS r (bucket, vote, votes)
    SELECT vote_rollup_floor(cast_at, 60), vote, count(*) FROM new_rows GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (bucket, vote) DO UPDATE SET votes = r.votes + EXCLUDED.votes;
    INSERT INTO vote_rollup_hour AS r (bucket, vote, votes)
    SELECT vote_rollup_floor(cast_at, 3600), vote, count(*) FROM new_rows GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (bucket, vote) DO UPDATE SET votes = r.votes + EXCLUDED.votes;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER vote_history_rollup AFTER INSERT ON vote_history
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION vote_rollup_add();

-- +goose Down
DROP TRIGGER vote_history_rollup ON vote_history;
DROP FUNCTION vote_rollup_add();
DROP FUNCTION vote_rollup_bucket(timestamptz);
DROP FUNCTION vote_rollup_floor(timestamptz, int);
DROP TABLE vote_rollup_hour;
DROP TABLE vote_rollup_minute;
DROP TABLE vote_rollup;
