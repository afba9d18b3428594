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
func newServer(log *slog.Logger, metrics *web.Metrics, st *store, ans *answers, opts ballot.Options, in *insights, now func() time.Time) http.Handler {
	r := chi.NewRouter()
	r.Use(web.SecurityHeaders(contentSecurityPolicy), web.Instrument(log, metrics), web.Recover(log), web.HeadAsGet)
	r.NotFound(handleProblem(log, web.ErrNotFound))
	r.MethodNotAllowed(handleProblem(log, web.ErrMethodNotAllowed))

	r.Get("/api/v1/openapi.yaml", handleOpenAPI())
	// Every answer from the data goes through ans: ETags, a cache, a bound on computations at once.
	r.Get("/api/v1/summary", ans.Serve(handleSummary(log, st, opts), false))
	r.Get("/api/v1/timeline", ans.Serve(handleTimeline(log, st, opts, now), true))
	r.Get("/api/v1/momentum", ans.Serve(handleMomentum(log, st, opts, now), true))
	r.Get("/api/v1/anomalies", ans.Serve(handleAnomalies(log, st, opts, now), true))
	r.Get("/api/v1/insight", ans.Serve(handleInsight(log, st, opts, in, now), true))
	return r
}
