package main

import (
	"log/slog"
	"net/http"

	"github.com/go-chi/chi/v5"
	"github.com/go-voting-app/voting-app/platform/ballot"
	"github.com/go-voting-app/voting-app/platform/web"
)

// newServer builds the public HTTP surface of the vote service. The ops endpoints (/livez,
// /readyz, /metrics) are on the separate ops server.
func newServer(
	log *slog.Logger,
	httpMetrics *web.Metrics,
	metrics *metrics,
	opts ballot.Options,
	box *ballotBox,
	cookies cookiePolicy,
	limiter *clientLimiter,
	hostname string,
) http.Handler {
	site := newSite(log, hostname)

	// Browsers say where a POST comes from (Sec-Fetch-Site, Origin); a vote from another site's
	// page is refused, so no one can vote on a visitor's behalf.
	sameOrigin := http.NewCrossOriginProtection()
	sameOrigin.SetDenyHandler(handleCrossOrigin(site, metrics))
	// Each client address gets VOTE_RATE_LIMIT votes a second; past that, 429 before the vote is
	// read. Refused votes count too, so a flood of bad ones is held back like one of good ones.
	limit := limitVotes(site, metrics, limiter)

	r := chi.NewRouter()
	r.Use(web.SecurityHeaders(contentSecurityPolicy), web.Instrument(log, httpMetrics), web.Recover(log), web.HeadAsGet)
	r.NotFound(handleNotFound(site))

	r.Get("/", handleBallot(site, opts, cookies))
	r.With(limit, sameOrigin.Handler).Post("/", handleVote(site, metrics, opts, box, cookies))
	r.Get("/static/{file}", site.assets.Serve(handleNotFound(site)).ServeHTTP)

	r.Route("/api/v1", func(r chi.Router) {
		r.Get("/options", handleOptions(opts))
		r.With(limit, sameOrigin.Handler).Post("/votes", handleAPIVote(site, metrics, opts, box, cookies))
	})
	return r
}
