package main

import (
	"errors"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/go-voting-app/voting-app/platform/ballot"
	"github.com/go-voting-app/voting-app/platform/web"
)

// handlePage renders the tally as of now. Before the first tally it still renders the page (labels,
// placeholders, a notice) with 503, and the script fills it in when the stream delivers one.
func handlePage(log *slog.Logger, opts ballot.Options, b *broker, u *ui) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v := newPageView(opts, b.Latest(), time.Now())
		v.EventsURL = "/events"
		v.StyleURL = u.assets.Path(styleFile)
		v.ScriptURL = u.assets.Path(scriptFile)
		body, err := u.render(v)
		if err != nil {
			web.Problems(problems).Respond(log, w, r, err)
			return
		}
		status := http.StatusOK
		if !v.Ready {
			status = http.StatusServiceUnavailable
			w.Header().Set("Retry-After", "5")
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(status)
		w.Write(body)
	}
}

// handleResults returns the tally as JSON: the document every SSE event carries, encoded once per
// change rather than once per request.
func handleResults(log *slog.Logger, b *broker) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s := b.Latest()
		if s == nil {
			web.Problems(problems).Respond(log, w, r, errNoTally)
			return
		}
		etag := `"` + s.ID + `"`
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("ETag", etag)
		// A client that polls gets "no change" for the price of a header.
		if r.Header.Get("If-None-Match") == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(s.JSON)
	}
}

// streamConfig tunes /events.
type streamConfig struct {
	Clients      web.ClientAddrs // how a stream's client is told apart, for SSE_MAX_STREAMS_PER_CLIENT
	Heartbeat    time.Duration   // comment line interval that keeps proxies from closing an idle stream (SSE_HEARTBEAT_INTERVAL)
	WriteTimeout time.Duration   // bound on one write: a browser that stops reading is dropped after it
	Retry        time.Duration   // reconnect delay told to browsers; each stream gets it plus up to as much again at random
}

// handleEvents streams the tally as Server-Sent Events: the current tally at once (also to a
// browser that reconnects with Last-Event-ID: a tally is a whole state, nothing needs replaying),
// then every change, with heartbeat comments in between. The stream ends when the browser goes or
// the server shuts down.
func handleEvents(log *slog.Logger, b *broker, m *metrics, cfg streamConfig) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodHead {
			// The headers a stream would start with, and no stream: nothing would read it.
			setStreamHeaders(w.Header())
			return
		}
		sub, err := b.Subscribe(cfg.Clients.Of(r))
		if err != nil {
			if errors.Is(err, errClientHasTooMany) {
				m.clientLimited.Inc()
			} else {
				m.rejected.Inc()
			}
			web.Problems(problems).Respond(log, w, r, err)
			return
		}
		defer b.Unsubscribe(sub)

		rc := http.NewResponseController(w)
		// Each write gets its own deadline instead of the server's WriteTimeout, which would end
		// every stream after a few seconds.
		write := func(p []byte) error {
			if err := rc.SetWriteDeadline(time.Now().Add(cfg.WriteTimeout)); err != nil {
				return err
			}
			if _, err := w.Write(p); err != nil {
				return err
			}
			return rc.Flush()
		}

		setStreamHeaders(w.Header())
		w.WriteHeader(http.StatusOK)
		// A jittered retry spreads the reconnections of thousands of browsers when an instance
		// goes away.
		if write(retryAfter(cfg.Retry+rand.N(cfg.Retry+1))) != nil {
			return
		}

		heartbeat := time.NewTicker(cfg.Heartbeat)
		defer heartbeat.Stop()
		for {
			select {
			case <-r.Context().Done():
				return
			case <-b.Done():
				return
			case s := <-sub.C:
				if err := write(s.Event); err != nil {
					log.Debug("event stream ended", "err", err)
					return
				}
				m.eventsSent.Inc()
				heartbeat.Reset(cfg.Heartbeat)
			case <-heartbeat.C:
				if err := write(comment("heartbeat")); err != nil {
					log.Debug("event stream ended", "err", err)
					return
				}
			}
		}
	}
}

// setStreamHeaders sets the headers of an event stream.
func setStreamHeaders(h http.Header) {
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // nginx: pass events through instead of buffering them
}
