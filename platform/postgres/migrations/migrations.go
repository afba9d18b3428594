// Package migrations applies the schema's versioned SQL migrations (postgres.Migrations). Only the
// worker imports it.
//
// The runner is a few dozen lines on pgx rather than a migration library: goose (which wrote
// these files and whose bookkeeping is kept) needs database/sql and brings text/template along,
// and jackc/tern links text/template and sprig; either costs the worker's binary about a
// megabyte over the pgx it links anyway. The files keep goose's format, and the runner goose's
// version table and lock, so a database goose migrated is up to date here, and the other way
// round.
package migrations

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/go-voting-app/voting-app/platform/postgres"
)

const (
	// versionTable is goose's: id, version_id, is_applied, tstamp, one row per applied version
	// (version 0 marks the table's creation).
	versionTable = "goose_db_version"
	// lockID is goose's default advisory lock id, so a goose-era worker and this one also
	// serialise against each other.
	lockID int64 = 4097083626
)

// Migration is one file: NNNNN_name.sql, its Up section applied in one transaction.
type Migration struct {
	Version int64
	File    string
	Up      string
}

// Load reads the embedded migrations in version order.
func Load() ([]Migration, error) {
	sub, err := fs.Sub(postgres.Migrations, "migrations")
	if err != nil {
		return nil, err
	}
	return load(sub)
}

func load(fsys fs.FS) ([]Migration, error) {
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return nil, err
	}
	var ms []Migration
	for _, name := range names {
		prefix, _, ok := strings.Cut(name, "_")
		v, err := strconv.ParseInt(prefix, 10, 64)
		if !ok || err != nil || v < 1 {
			return nil, fmt.Errorf("migration %s: the name must start with a version number and _", name)
		}
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		up, err := upSection(string(b))
		if err != nil {
			return nil, fmt.Errorf("migration %s: %w", name, err)
		}
		if i := slices.IndexFunc(ms, func(m Migration) bool { return m.Version == v }); i >= 0 {
			return nil, fmt.Errorf("migrations %s and %s have the same version", ms[i].File, name)
		}
		ms = append(ms, Migration{Version: v, File: name, Up: up})
	}
	slices.SortFunc(ms, func(a, b Migration) int { return int(a.Version - b.Version) })
	return ms, nil
}

// upSection is the SQL between "-- +goose Up" and "-- +goose Down" (or the end). The server runs
// it as one multi-statement query, so goose's StatementBegin/End markers, which tell goose's own
// splitter where a function body ends, are comments here like any other.
func upSection(src string) (string, error) {
	_, after, ok := strings.Cut(src, "-- +goose Up")
	if !ok {
		return "", errors.New(`no "-- +goose Up" line`)
	}
	if strings.Contains(src, "-- +goose NO TRANSACTION") {
		return "", errors.New("NO TRANSACTION migrations are not supported")
	}
	up, _, _ := strings.Cut(after, "-- +goose Down")
	if strings.TrimSpace(up) == "" {
		return "", errors.New("empty Up section")
	}
	return up, nil
}

// Up brings the schema to the newest version. A session-level advisory lock serialises concurrent
// callers, so any number of workers can start at once: the first migrates, the others wait and
// find nothing to do. Each migration commits with its version row, or not at all.
func Up(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) error {
	ms, err := Load()
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", lockID); err != nil {
		return fmt.Errorf("migrate: lock: %w", err)
	}
	defer func() {
		// A cancelled ctx must not leave the lock held on a pooled connection.
		unlock, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if _, err := conn.Exec(unlock, "SELECT pg_advisory_unlock($1)", lockID); err != nil {
			conn.Conn().Close(unlock)
		}
	}()
	applied, err := appliedVersions(ctx, conn.Conn())
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	for _, m := range ms {
		if applied[m.Version] {
			continue
		}
		start := time.Now()
		err := pgx.BeginFunc(ctx, conn.Conn(), func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, m.Up); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "INSERT INTO "+versionTable+" (version_id, is_applied) VALUES ($1, true)", m.Version)
			return err
		})
		if err != nil {
			return fmt.Errorf("migrate: %s: %w", m.File, err)
		}
		log.Info("migration applied", "version", m.Version, "file", m.File, "duration", time.Since(start).String())
	}
	return nil
}

// appliedVersions reads goose's version table, creating it first on a new database.
func appliedVersions(ctx context.Context, conn *pgx.Conn) (map[int64]bool, error) {
	err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		var exists bool
		if err := tx.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", versionTable).Scan(&exists); err != nil || exists {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE `+versionTable+` (
			id integer PRIMARY KEY GENERATED BY DEFAULT AS IDENTITY,
			version_id bigint NOT NULL,
			is_applied boolean NOT NULL,
			tstamp timestamp NOT NULL DEFAULT now())`); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "INSERT INTO "+versionTable+" (version_id, is_applied) VALUES (0, true)")
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("version table: %w", err)
	}
	// The latest row of a version decides (goose records a rollback as is_applied false).
	rows, err := conn.Query(ctx, "SELECT DISTINCT ON (version_id) version_id, is_applied FROM "+versionTable+" ORDER BY version_id, id DESC")
	if err != nil {
		return nil, err
	}
	applied := map[int64]bool{}
	for rows.Next() {
		var v int64
		var ok bool
		if err := rows.Scan(&v, &ok); err != nil {
			return nil, err
		}
		applied[v] = ok
	}
	return applied, rows.Err()
}
