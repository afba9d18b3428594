package main

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-voting-app/voting-app/platform/ballot"
	"github.com/go-voting-app/voting-app/platform/web"
)

// contentSecurityPolicy is a JSON API's: nothing may load, run or frame what it serves, should a
// browser ever render an answer.
const contentSecurityPolicy = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

// newServer returns the analyzer's public API. Every answer is JSON, every error
// application/problem+json, unknown paths and methods included.
func newServer(log *slog.Logger, metrics *web.Metrics, st *store, opts ballot.Options, in *insights, now func() time.Time) http.Handler {
	r := chi.NewRouter()
	r.Use(web.SecurityHeaders(contentSecurityPolicy), web.Instrument(log, metrics), web.Recover(log), web.HeadAsGet)
	r.NotFound(handleProblem(log, web.ErrNotFound))
	r.MethodNotAllowed(handleProblem(log, web.ErrMethodNotAllowed))

	r.Get("/api/v1/openapi.yaml", handleOpenAPI())
	r.Get("/api/v1/summary", handleSummary(log, st, opts))
	r.Get("/api/v1/timeline", handleTimeline(log, st, opts, now))
	r.Get("/api/v1/momentum", handleMomentum(log, st, opts, now))
	r.Get("/api/v1/anomalies", handleAnomalies(log, st, opts, now))
	r.Get("/api/v1/insight", handleInsight(log, st, opts, in, now))
	return r
}
