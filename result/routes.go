package main

import (
	"log/slog"
	"net/http"

	"github.com/go-chi/chi/v5"
	"github.com/go-voting-app/voting-app/platform/ballot"
	"github.com/go-voting-app/voting-app/platform/web"
)

// contentSecurityPolicy allows the page its own style sheet, script and event stream, and nothing
// else: no inline script or style, no other origin, no framing, no forms.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; " +
	"img-src 'self'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'"

// newServer returns the public router: the whole surface of the service on one screen. The ops
// endpoints (/livez, /readyz, /metrics) are on the ops server.
func newServer(log *slog.Logger, hm *web.Metrics, m *metrics, opts ballot.Options, b *broker, u *ui, sc streamConfig) http.Handler {
	fail := func(err error) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) { web.Problems(problems).Respond(log, w, r, err) }
	}
	r := chi.NewRouter()
	r.Use(web.Instrument(log, hm), web.Recover(log), web.SecurityHeaders(contentSecurityPolicy), web.HeadAsGet)
	r.NotFound(fail(web.ErrNotFound))
	r.MethodNotAllowed(fail(web.ErrMethodNotAllowed))
	r.Get("/", handlePage(log, opts, b, u))
	r.Get("/events", handleEvents(log, b, m, sc))
	r.Get("/api/results", handleResults(log, b))
	r.Get("/static/{name}", u.assets.Serve(fail(web.ErrNotFound)).ServeHTTP)
	return r
}
