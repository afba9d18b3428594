package main

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-voting-app/voting-app/platform/ops"
	"github.com/go-voting-app/voting-app/platform/postgres"
	"github.com/go-voting-app/voting-app/testkit"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// The result service starts before the worker has migrated the database: it reports "schema not
// migrated yet" on /readyz, logs that once instead of an error a second, and serves as soon as the
// schema appears.
func TestFeedWaitsForSchema(t *testing.T) {
	t.Parallel()
	dbURL := testkit.Postgres(t)
	logs := &testkit.Logs{}
	cfg := defaultStackConfig()
	cfg.log = quietLogTo(logs)
	s := startStack(t, dbURL, cfg)
	probe := ops.NewProbe(ops.Check{Name: "tally", Fn: s.feed.Ready})

	testkit.Eventually(t, 30*time.Second, "readiness to say the schema is missing", func() bool {
		ok, checks := probe.Ready(context.Background())
		return !ok && strings.Contains(checks["tally"], "schema not migrated yet")
	})
	if !errors.Is(s.feed.Ready(context.Background()), postgres.ErrNoSchema) {
		t.Fatal("feed not waiting for the schema")
	}
	// Let it poll a few times (SchemaPoll is 20 ms here) before migrating.
	time.Sleep(200 * time.Millisecond)
	if resp, _ := get(t, s.srv.URL+"/api/results", nil); resp.StatusCode != 503 {
		t.Fatalf("/api/results before the schema: %s", resp.Status)
	}

	db := migratedDB(t, dbURL)
	s.waitReady(t)
	if ok, checks := probe.Ready(context.Background()); !ok {
		t.Fatalf("not ready after migration: %v", checks)
	}
	if got := s.broker.Latest(); got == nil || got.Tally.Total != 0 {
		t.Fatalf("tally after migration: %+v", got)
	}
	vote(t, db, "v1", "a")
	testkit.Eventually(t, 10*time.Second, "the vote to arrive", func() bool { return s.broker.Latest().Tally.Total == 1 })

	count := func(msg string) int {
		n := 0
		for _, line := range strings.Split(logs.String(), "\n") {
			if strings.Contains(line, `"msg":"`+msg) {
				n++
			}
		}
		return n
	}
	if n := count("waiting for the schema"); n != 1 {
		t.Errorf("logged waiting %d times, want once:\n%s", n, logs)
	}
	if n := count("schema ready"); n != 1 {
		t.Errorf("logged ready %d times, want once:\n%s", n, logs)
	}
	if _, found := logs.Find(func(m map[string]any) bool {
		return m["msg"] != "request" && (m["level"] == "WARN" || m["level"] == "ERROR")
	}); found {
		t.Errorf("a missing schema is not a problem to log:\n%s", logs)
	}
}

// The service reads with a role that can only SELECT: it works with it, and that role cannot write.
func TestFeedWithReadOnlyRole(t *testing.T) {
	t.Parallel()
	dbURL := testkit.Postgres(t)
	admin := migratedDB(t, dbURL)
	ctx := context.Background()
	role := testkit.UniqueName(t)
	if _, err := admin.Exec(ctx, "CREATE ROLE "+pgx.Identifier{role}.Sanitize()+" LOGIN PASSWORD 'reader-secret'; "+
		"GRANT pg_read_all_data TO "+pgx.Identifier{role}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Roles belong to the server, not the database: drop it once its connections are gone.
		admin.Exec(context.Background(), "DROP ROLE IF EXISTS "+pgx.Identifier{role}.Sanitize())
	})
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(role, "reader-secret")
	readerURL := u.String()

	vote(t, admin, "v1", "b")
	s := startStack(t, readerURL, defaultStackConfig())
	s.waitReady(t)
	if got := s.broker.Latest().Tally; got.Total != 1 || got.Options[1].Votes != 1 {
		t.Fatalf("tally read as %s: %+v", role, got)
	}
	vote(t, admin, "v2", "a")
	testkit.Eventually(t, 10*time.Second, "the change to reach the reader", func() bool { return s.broker.Latest().Tally.Total == 2 })

	reader, err := pgx.Connect(ctx, readerURL)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close(ctx)
	for _, stmt := range []string{
		`INSERT INTO votes (id, vote) VALUES ('intruder', 'a')`,
		`UPDATE vote_totals SET votes = 1000000`,
		`DELETE FROM votes`,
	} {
		_, err := reader.Exec(ctx, stmt)
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "42501" { // insufficient_privilege
			t.Errorf("%s as %s: %v, want permission denied", stmt, role, err)
		}
	}
}

// Whatever the role may do, the feed's own connection runs read-only transactions.
func TestFeedConnectionIsReadOnly(t *testing.T) {
	t.Parallel()
	dbURL := testkit.Postgres(t)
	migratedDB(t, dbURL) // as the superuser
	cc, err := feedConnConfig(postgres.Config{URL: dbURL})
	if err != nil {
		t.Fatal(err)
	}
	s := newStack(t, defaultStackConfig())
	f := newFeed(quietLog(), cc, s.opts, s.broker, s.metrics, defaultStackConfig().feed)
	ctx := context.Background()
	conn, err := pgx.ConnectConfig(ctx, f.connConfig)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, `INSERT INTO votes (id, vote) VALUES ('x', 'a')`)
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "25006" { // read_only_sql_transaction
		t.Fatalf("insert on the feed's connection: %v, want a read-only transaction error", err)
	}
	if _, err := conn.Exec(ctx, "LISTEN "+postgres.TotalsChannel); err != nil {
		t.Fatalf("LISTEN on a read-only connection: %v", err)
	}
}

// The listener survives Postgres going away: readiness fails while it is down, and after a
// restart the feed reconnects, re-queries, and updates flow again to a browser that stayed.
func TestFeedSurvivesPostgresRestart(t *testing.T) {
	t.Parallel()
	pg := testkit.StartPostgres(t)
	dbURL := pg.URL(t)
	db := migratedDB(t, dbURL)
	vote(t, db, "v1", "a")
	s := startStack(t, dbURL, defaultStackConfig())
	s.waitReady(t)
	c := connectSSE(t, s.srv.Client(), s.srv.URL, nil)
	c.waitTotal(t, 1)

	pg.Stop(t)
	testkit.Eventually(t, 30*time.Second, "readiness to fail", func() bool { return s.feed.Ready(context.Background()) != nil })
	pg.Start(t)

	// Written possibly before the listener is back: either its notification or the query after
	// reconnecting must bring it.
	db2 := openPool(t, dbURL)
	vote(t, db2, "v2", "b")
	c.waitTotal(t, 2)
	s.waitReady(t)
	vote(t, db2, "v3", "b")
	c.waitTotal(t, 3)

	if got := testutil.ToFloat64(s.metrics.reconnects); got < 1 {
		t.Fatalf("reconnects %v", got)
	}
	if q := s.queries(); q[triggerConnect] < 2 {
		t.Fatalf("queries %v: want a connect query after reconnecting", q)
	}
}

// A change whose notification never came (here: totals written directly, which no trigger
// announces) is picked up by the periodic re-check.
func TestFeedRecheckCatchesMissedChange(t *testing.T) {
	t.Parallel()
	dbURL := testkit.Postgres(t)
	db := migratedDB(t, dbURL)
	cfg := defaultStackConfig()
	cfg.feed.Recheck = 100 * time.Millisecond
	s := startStack(t, dbURL, cfg)
	s.waitReady(t)
	if _, err := db.Exec(context.Background(), `INSERT INTO vote_totals (vote, votes) VALUES ('a', 5)`); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, "the re-check to find the change", func() bool { return s.broker.Latest().Tally.Total == 5 })
	if q := s.queries(); q[triggerRecheck] < 1 || q[triggerNotify] != 0 {
		t.Fatalf("queries %v: want re-checks and no notify", q)
	}
}
