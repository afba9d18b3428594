package main

import (
	"context"
	"time"

	"github.com/go-voting-app/voting-app/platform/postgres"
	"github.com/jackc/pgx/v5/pgxpool"
)

// store is the analyzer's view of the vote store (package postgres holds the queries). Every answer
// reads one snapshot, bounded by QUERY_TIMEOUT twice: on the client by the context, and on the
// server by the pool's statement_timeout, which cancels a statement even if the client is gone.
type store struct {
	pool    *pgxpool.Pool
	timeout time.Duration
}

func (s *store) read(ctx context.Context, fn func(q postgres.Querier) error) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	return postgres.ReadSnapshot(ctx, s.pool, fn)
}

// openStore opens the pool the analyzer reads through: no connection may write, whatever the role
// may do, and every statement is bounded by timeout on the server.
func openStore(ctx context.Context, cfg postgres.Config, timeout time.Duration) (*store, error) {
	cfg.StatementTimeout = timeout
	cfg.ReadOnly = true
	pool, err := postgres.Open(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return &store{pool: pool, timeout: timeout}, nil
}
