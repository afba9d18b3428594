package postgres_test

import (
	"context"
	"io"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-voting-app/voting-app/platform/config"
	"github.com/go-voting-app/voting-app/platform/postgres"
	"github.com/go-voting-app/voting-app/platform/postgres/migrations"
	"github.com/go-voting-app/voting-app/testkit"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

func TestMain(m *testing.M) { testkit.Main(m) }

func open(t *testing.T, url string) *pgxpool.Pool {
	t.Helper()
	pool, err := postgres.Open(context.Background(), postgres.Config{URL: url, AppName: "test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestMigrateConcurrentlyIsSafe(t *testing.T) {
	url := testkit.Postgres(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make([]error, 5)
	for i := range errs {
		wg.Go(func() { errs[i] = migrations.Up(ctx, open(t, url), quiet) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("migrator %d: %v", i, err)
		}
	}
	pool := open(t, url)
	if err := postgres.SchemaReady(ctx, pool); err != nil {
		t.Fatal(err)
	}
	var applied int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM goose_db_version WHERE version_id > 0`).Scan(&applied); err != nil {
		t.Fatal(err)
	}
	if applied != 4 {
		t.Fatalf("want each of the 4 migrations applied once, got %d rows", applied)
	}
}

func TestSchemaReadyBeforeMigrate(t *testing.T) {
	pool := open(t, testkit.Postgres(t))
	if err := postgres.SchemaReady(context.Background(), pool); err != postgres.ErrNoSchema {
		t.Fatalf("want ErrNoSchema on an empty database, got %v", err)
	}
}

// The classic worker created votes(id, vote) itself; migrating such a database keeps its rows and
// counts them.
func TestMigrateAdoptsClassicTable(t *testing.T) {
	ctx := context.Background()
	pool := open(t, testkit.Postgres(t))
	if _, err := pool.Exec(ctx, `CREATE TABLE votes (id VARCHAR(255) NOT NULL UNIQUE, vote VARCHAR(255) NOT NULL);
		INSERT INTO votes VALUES ('old1','a'),('old2','b'),('old3','a')`); err != nil {
		t.Fatal(err)
	}
	if err := migrations.Up(ctx, pool, quiet); err != nil {
		t.Fatal(err)
	}
	got, err := postgres.Totals(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	if got["a"] != 2 || got["b"] != 1 {
		t.Fatalf("totals after adopting the classic table = %v, want a:2 b:1", got)
	}
}

// The totals the triggers keep must equal a GROUP BY over votes after any mix of inserts, updates,
// deletes and truncates, including from concurrent transactions.
func TestTotalsMatchVotes(t *testing.T) {
	ctx := context.Background()
	pool := open(t, testkit.Postgres(t))
	if err := migrations.Up(ctx, pool, quiet); err != nil {
		t.Fatal(err)
	}
	check := func(when string) {
		t.Helper()
		got, err := postgres.Totals(ctx, pool)
		if err != nil {
			t.Fatal(err)
		}
		rows, _ := pool.Query(ctx, `SELECT vote, count(*) FROM votes GROUP BY vote`)
		want := map[string]int64{}
		var k string
		var n int64
		pgx.ForEachRow(rows, []any{&k, &n}, func() error { want[k] = n; return nil })
		for _, key := range []string{"a", "b"} {
			if got[key] != want[key] {
				t.Fatalf("%s: totals %v, GROUP BY %v", when, got, want)
			}
		}
	}

	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 1))
			for range 50 {
				voter := string(rune('a' + r.IntN(20)))
				opt := []string{"a", "b"}[r.IntN(2)]
				var err error
				switch r.IntN(4) {
				case 0:
					_, err = pool.Exec(ctx, `DELETE FROM votes WHERE id = $1`, voter)
				default:
					_, err = pool.Exec(ctx, `INSERT INTO votes (id, vote) VALUES ($1, $2)
						ON CONFLICT (id) DO UPDATE SET vote = EXCLUDED.vote`, voter, opt)
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	check("after concurrent writes")

	if _, err := pool.Exec(ctx, `TRUNCATE votes`); err != nil {
		t.Fatal(err)
	}
	check("after truncate")
}

// A change to the totals is announced on the channel, once per transaction, after commit.
func TestTotalsChangeNotifies(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	url := testkit.Postgres(t)
	pool := open(t, url)
	if err := migrations.Up(ctx, pool, quiet); err != nil {
		t.Fatal(err)
	}
	listener, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Close(ctx)
	if _, err := listener.Exec(ctx, "LISTEN "+postgres.TotalsChannel); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO votes (id, vote) VALUES ('v1','a'), ('v2','b')`); err != nil {
		t.Fatal(err)
	}
	if _, err := listener.WaitForNotification(ctx); err != nil {
		t.Fatalf("no notification after a vote: %v", err)
	}
	// Re-voting the same option leaves the totals alone: no notification.
	if _, err := pool.Exec(ctx, `UPDATE votes SET vote = 'a' WHERE id = 'v1'`); err != nil {
		t.Fatal(err)
	}
	short, cancelShort := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancelShort()
	if n, err := listener.WaitForNotification(short); err == nil {
		t.Fatalf("unexpected notification %+v for an unchanged tally", n)
	}
}

// A reader configured ReadOnly cannot write, whatever its role may do, and StatementTimeout cuts
// long statements; both hold for pools and single connections.
func TestReadOnlyAndStatementTimeout(t *testing.T) {
	ctx := context.Background()
	url := testkit.Postgres(t)
	if err := migrations.Up(ctx, open(t, url), quiet); err != nil {
		t.Fatal(err)
	}
	cfg := postgres.Config{URL: url, ReadOnly: true, StatementTimeout: 100 * time.Millisecond}
	pool, err := postgres.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	cc, err := postgres.ConnConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for name, q := range map[string]interface {
		Exec(context.Context, string, ...any) (pgconn.CommandTag, error)
	}{"pool": pool, "conn": conn} {
		if _, err := q.Exec(ctx, `INSERT INTO votes (id, vote) VALUES ('x', 'a')`); err == nil {
			t.Errorf("%s: a read-only reader could insert", name)
		}
		if _, err := q.Exec(ctx, `SELECT pg_sleep(2)`); err == nil {
			t.Errorf("%s: a 2 s statement was not cut at 100 ms", name)
		}
		if _, err := postgres.Totals(ctx, pool); err != nil {
			t.Errorf("%s: reading failed: %v", name, err)
		}
	}
}

func TestBadURLDoesNotLeakThePassword(t *testing.T) {
	_, err := postgres.Open(context.Background(), postgres.Config{URL: "postgres://u:hunter2@h:notaport/db"})
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("error %v", err)
	}
	_, err = postgres.ConnConfig(postgres.Config{URL: "postgres://u:hunter2@h:notaport/db"})
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("error %v", err)
	}
}

// DATABASE_MAX_CONNS belongs to services with a pool; one without (result) neither reads nor
// validates it.
func TestConfigFromEnvMaxConns(t *testing.T) {
	tests := []struct {
		value    string
		maxConns int
		want     int32
		wantErr  bool
	}{
		{"", 8, 8, false},
		{"20", 8, 20, false},
		{"many", 8, 0, true},
		{"0", 8, 0, true},
		{"20", 0, 0, false},
		{"many", 0, 0, false},
	}
	for _, tt := range tests {
		env := config.New(func(k string) string {
			if k == "DATABASE_MAX_CONNS" {
				return tt.value
			}
			return ""
		})
		cfg := postgres.ConfigFromEnv(env, "test", tt.maxConns)
		if err := env.Err(); (err != nil) != tt.wantErr || (!tt.wantErr && cfg.MaxConns != tt.want) {
			t.Errorf("DATABASE_MAX_CONNS=%q, default %d: MaxConns %d, err %v", tt.value, tt.maxConns, cfg.MaxConns, err)
		}
	}
}
