-- Votes cast per option in every 10-second interval, kept by a statement-level trigger on
-- vote_history in the same transaction as the votes, so that the result page's live chart and the
-- analyzer's timelines read a few rows per interval instead of scanning the history. Every row
-- vote_history gains adds one to its interval; a replayed entry, which the history ignores (ON
-- CONFLICT DO NOTHING), is not in the trigger's transition table and adds nothing. Rows are
-- upserted in key order, so concurrent workers lock them in the same order and cannot deadlock.
-- +goose Up
CREATE TABLE vote_rollup (
    bucket timestamptz  NOT NULL, -- start of the 10-second interval of cast_at
    vote   varchar(255) NOT NULL,
    votes  bigint       NOT NULL,
    PRIMARY KEY (bucket, vote)
);

-- +goose StatementBegin
CREATE FUNCTION vote_rollup_bucket(t timestamptz) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT to_timestamp(floor(extract(epoch FROM t) / 10) * 10)
$$;
-- +goose StatementEnd

INSERT INTO vote_rollup (bucket, vote, votes)
SELECT vote_rollup_bucket(cast_at), vote, count(*) FROM vote_history GROUP BY 1, 2;

-- +goose StatementBegin
CREATE FUNCTION vote_rollup_add() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO vote_rollup AS r (bucket, vote, votes)
    SELECT vote_rollup_bucket(cast_at), vote, count(*) FROM new_rows GROUP BY 1, 2 ORDER BY 1, 2
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
DROP TABLE vote_rollup;
