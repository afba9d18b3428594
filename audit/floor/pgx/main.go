// Floor of the result and analyzer services: a pgx pool, client_golang and net/http, each used
// once.
package main

import (
	"context"
	"net/http"
	"os"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func main() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		os.Exit(1)
	}
	var n int
	if err := pool.QueryRow(ctx, "SELECT 1").Scan(&n); err != nil {
		os.Exit(1)
	}
	http.Handle("/metrics", promhttp.Handler())
	_ = http.ListenAndServe(os.Getenv("ADDR"), nil)
}
