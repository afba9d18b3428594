// Package postgres is the vote store and everything about the database: connecting, the schema
// (its migrations are in migrations/, applied by package migrations), the worker's batch writes
// (Store), the tally the result service reads (Tally, TotalsChannel), and the history queries of
// the analyzer. Nothing else in the project writes SQL against these tables.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/go-voting-app/voting-app/platform/ballot"
	"github.com/go-voting-app/voting-app/platform/config"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Config says how to reach the database. URL may be empty: pgx then reads the standard libpq
// variables (PGHOST, PGUSER, PGDATABASE, PGSSLMODE, …).
type Config struct {
	URL      string
	Password config.Secret // from DATABASE_PASSWORD(_FILE); overrides a password in URL
	AppName  string
	MaxConns int32
	// ReadOnly makes every transaction of every connection read only, on top of what the role may
	// do: a reader cannot write even when it is given a role that could.
	ReadOnly bool
	// StatementTimeout bounds every statement on the server (0: the server's default).
	StatementTimeout time.Duration
}

// ConfigFromEnv reads DATABASE_URL and DATABASE_PASSWORD / DATABASE_PASSWORD_FILE, and, for a
// service that keeps a pool (maxConns > 0, its default size), DATABASE_MAX_CONNS. A service without
// a pool passes 0 and does not take the variable: setting it would change nothing.
func ConfigFromEnv(env *config.Env, appName string, maxConns int) Config {
	cfg := Config{
		URL:      env.String("DATABASE_URL", ""),
		Password: env.Secret("DATABASE_PASSWORD"),
		AppName:  appName,
	}
	if maxConns > 0 {
		cfg.MaxConns = int32(env.Int("DATABASE_MAX_CONNS", maxConns, 1, 1000))
	}
	return cfg
}

// Open returns a connection pool. It does not wait for the server: a service starts, reports not
// ready, and connects when the database comes up.
func Open(ctx context.Context, cfg Config) (*pgxpool.Pool, error) {
	pc, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		return nil, errBadURL
	}
	cfg.apply(pc.ConnConfig)
	if cfg.MaxConns > 0 {
		pc.MaxConns = cfg.MaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("postgres pool: %w", err)
	}
	return pool, nil
}

// ConnConfig returns the settings for a single connection outside any pool, such as a dedicated
// LISTEN connection.
func ConnConfig(cfg Config) (*pgx.ConnConfig, error) {
	cc, err := pgx.ParseConfig(cfg.URL)
	if err != nil {
		return nil, errBadURL
	}
	cfg.apply(cc)
	return cc, nil
}

// errBadURL replaces pgx's parse error, which can quote the URL, password included.
var errBadURL = errors.New("DATABASE_URL is not a valid PostgreSQL URL or key=value string")

func (cfg Config) apply(cc *pgx.ConnConfig) {
	if cfg.Password != "" {
		cc.Password = cfg.Password.Reveal()
	}
	if cfg.AppName != "" {
		cc.RuntimeParams["application_name"] = cfg.AppName
	}
	if cfg.ReadOnly {
		cc.RuntimeParams["default_transaction_read_only"] = "on"
	}
	if cfg.StatementTimeout > 0 {
		cc.RuntimeParams["statement_timeout"] = strconv.FormatInt(cfg.StatementTimeout.Milliseconds(), 10)
	}
	cc.ConnectTimeout = 5 * time.Second
}

// ErrNoSchema means the tables do not exist yet: the worker has not migrated the database.
var ErrNoSchema = errors.New("schema not migrated yet (the worker creates it)")

// SchemaReady reports whether the tables readers need exist. Readers use it in /readyz and wait
// instead of failing every query until the worker has run the migrations. Each migration commits on
// its own, so it asks for the tables of every migration up to the newest (schema.go).
func SchemaReady(ctx context.Context, q Querier) error {
	var ok bool
	err := q.QueryRow(ctx, `SELECT bool_and(to_regclass(t) IS NOT NULL) FROM unnest($1::text[]) AS t`, readerTables).Scan(&ok)
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	if !ok {
		return ErrNoSchema
	}
	return nil
}

// Querier is the part of a pool, connection or transaction that reads.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Totals returns votes per option key, from the totals the triggers maintain.
func Totals(ctx context.Context, q Querier) (map[string]int64, error) {
	rows, err := q.Query(ctx, `SELECT vote, votes FROM vote_totals`)
	if err != nil {
		return nil, fmt.Errorf("read totals: %w", err)
	}
	totals := make(map[string]int64, 2)
	var (
		key string
		n   int64
	)
	_, err = pgx.ForEachRow(rows, []any{&key, &n}, func() error {
		totals[key] = n
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read totals: %w", err)
	}
	return totals, nil
}

// Tally reads the totals and lays them over the ballot.
func Tally(ctx context.Context, q Querier, opts ballot.Options) (ballot.Tally, error) {
	totals, err := Totals(ctx, q)
	if err != nil {
		return ballot.Tally{}, err
	}
	return ballot.NewTally(opts, totals), nil
}
