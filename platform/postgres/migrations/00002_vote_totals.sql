-- Running totals per option, kept exact by statement-level triggers on votes, so that a reader asks
-- for the tally with a two-row read instead of a GROUP BY over every voter. The triggers also
-- NOTIFY vote_totals_changed when a total moves; the notification is delivered on commit, and only
-- if the transaction commits.
-- +goose Up
CREATE TABLE vote_totals (
    vote  varchar(255) PRIMARY KEY,
    votes bigint       NOT NULL
);
INSERT INTO vote_totals (vote, votes)
SELECT vote, count(*) FROM votes GROUP BY vote;

-- +goose StatementBegin
CREATE FUNCTION vote_totals_apply() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    changed bigint;
BEGIN
    -- One statement per event, rows upserted in key order, so that concurrent transactions lock
    -- totals in the same order and cannot deadlock. (votes has no CHECK (votes >= 0): a check
    -- would see the negative delta of a proposed insert before ON CONFLICT turns it into an
    -- update.) Each branch names only the transition tables its event defines.
    IF TG_OP = 'INSERT' THEN
        INSERT INTO vote_totals AS t (vote, votes)
        SELECT vote, count(*) FROM new_rows GROUP BY vote ORDER BY vote
        ON CONFLICT (vote) DO UPDATE SET votes = t.votes + EXCLUDED.votes;
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO vote_totals AS t (vote, votes)
        SELECT vote, sum(delta) FROM (
            SELECT vote, 1 AS delta FROM new_rows
            UNION ALL
            SELECT vote, -1 FROM old_rows
        ) d
        GROUP BY vote HAVING sum(delta) <> 0 ORDER BY vote
        ON CONFLICT (vote) DO UPDATE SET votes = t.votes + EXCLUDED.votes;
    ELSIF TG_OP = 'DELETE' THEN
        UPDATE vote_totals AS t SET votes = t.votes - d.n
        FROM (SELECT vote, count(*) AS n FROM old_rows GROUP BY vote ORDER BY vote) d
        WHERE t.vote = d.vote;
    END IF;
    GET DIAGNOSTICS changed = ROW_COUNT;
    IF changed > 0 THEN
        PERFORM pg_notify('vote_totals_changed', '');
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION vote_totals_reset() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM vote_totals;
    PERFORM pg_notify('vote_totals_changed', '');
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER votes_totals_insert AFTER INSERT ON votes
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION vote_totals_apply();
CREATE TRIGGER votes_totals_update AFTER UPDATE ON votes
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION vote_totals_apply();
CREATE TRIGGER votes_totals_delete AFTER DELETE ON votes
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION vote_totals_apply();
CREATE TRIGGER votes_totals_truncate AFTER TRUNCATE ON votes
    FOR EACH STATEMENT EXECUTE FUNCTION vote_totals_reset();

-- +goose Down
DROP TRIGGER votes_totals_truncate ON votes;
DROP TRIGGER votes_totals_delete ON votes;
DROP TRIGGER votes_totals_update ON votes;
DROP TRIGGER votes_totals_insert ON votes;
DROP FUNCTION vote_totals_reset();
DROP FUNCTION vote_totals_apply();
DROP TABLE vote_totals;
