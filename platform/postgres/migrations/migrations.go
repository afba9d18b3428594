// Package migrations applies the schema's versioned SQL migrations (postgres.Migrations). Only the
// worker imports it: readers need neither goose nor database/sql.
package migrations

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"

	"github.com/go-voting-app/voting-app/platform/postgres"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// Up brings the schema to the newest version. A session-level advisory lock serialises concurrent
// callers, so any number of workers can start at once: the first migrates, the others wait and
// find nothing to do.
func Up(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) error {
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 300)) // 1 s × 300 tries
	if err != nil {
		return err
	}
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	provider, err := goose.NewProvider(goose.DialectPostgres, db, migrationFiles(), goose.WithSessionLocker(locker))
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	results, err := provider.Up(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	for _, r := range results {
		log.Info("migration applied", "version", r.Source.Version, "file", r.Source.Path, "duration", r.Duration.String())
	}
	return nil
}

// migrationFiles is the directory of SQL files itself, as goose expects.
func migrationFiles() fs.FS {
	sub, err := fs.Sub(postgres.Migrations, "migrations")
	if err != nil {
		panic(err) // a fixed, embedded directory
	}
	return sub
}
