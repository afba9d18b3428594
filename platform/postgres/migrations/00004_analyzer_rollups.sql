-- What the analyzer needs to answer every request at a bounded cost, kept by triggers in the same
-- transaction as the votes:
--
-- vote_stats holds one row whose history_rows counts vote_history: it changes with every batch
-- that stores something, so readers use it as the version of the data (caches, ETags) for the price
-- of one row.
--
-- voter_changes holds, per voter whose stored vote ever changed option, how often it did and when
-- last, so that the voters who keep changing their mind are found with an index instead of a window
-- function over the history. It counts changes of the stored vote (last vote wins): a vote that
-- arrives after a newer one replaces nothing and changes nothing.
-- +goose Up
CREATE TABLE vote_stats (
    id           boolean PRIMARY KEY DEFAULT true CHECK (id),
    history_rows bigint  NOT NULL
);
INSERT INTO vote_stats (history_rows) SELECT count(*) FROM vote_history;

-- +goose StatementBegin
CREATE FUNCTION vote_stats_add() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE vote_stats SET history_rows = history_rows + (SELECT count(*) FROM new_rows);
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER vote_history_stats AFTER INSERT ON vote_history
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION vote_stats_add();

CREATE TABLE voter_changes (
    voter_id        varchar(255) PRIMARY KEY,
    changes         bigint       NOT NULL,
    last_changed_at timestamptz  NOT NULL
);
CREATE INDEX voter_changes_last ON voter_changes (last_changed_at);

-- Changes already in the history, in stream order (the order the stored vote followed).
INSERT INTO voter_changes (voter_id, changes, last_changed_at)
SELECT voter_id, count(*), max(cast_at)
FROM (
    SELECT voter_id, vote, cast_at,
           lag(vote) OVER (PARTITION BY voter_id ORDER BY stream_ms, stream_seq) AS previous
    FROM vote_history
) h
WHERE vote <> previous
GROUP BY voter_id;

-- +goose StatementBegin
CREATE FUNCTION voter_changes_add() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO voter_changes AS c (voter_id, changes, last_changed_at)
    SELECT n.id, 1, n.cast_at
    FROM new_rows n JOIN old_rows o ON o.id = n.id
    WHERE n.vote <> o.vote
    ORDER BY n.id
    ON CONFLICT (voter_id) DO UPDATE
    SET changes = c.changes + 1, last_changed_at = greatest(c.last_changed_at, EXCLUDED.last_changed_at);
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER votes_changes AFTER UPDATE ON votes
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION voter_changes_add();

-- +goose Down
DROP TRIGGER votes_changes ON votes;
DROP FUNCTION voter_changes_add();
DROP TABLE voter_changes;
DROP TRIGGER vote_history_stats ON vote_history;
DROP FUNCTION vote_stats_add();
DROP TABLE vote_stats;
