package main

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"
)

// errNoTally means the database has not answered yet (starting, schema missing, unreachable).
var errNoTally = errors.New("results are not available yet")

// problem maps an error to the status and message a client sees. Everything not listed is an
// internal error: logged here, once, and shown as a generic message.
func problem(log *slog.Logger, r *http.Request, err error) (status int, msg string, retryAfter int) {
	switch {
	case errors.Is(err, errNoTally):
		return http.StatusServiceUnavailable, "Results are not available yet; try again shortly.", 5
	case errors.Is(err, errTooManyStreams):
		return http.StatusServiceUnavailable, "This server is at its limit of live result streams; try again shortly.", 10
	case errors.Is(err, errShuttingDown):
		return http.StatusServiceUnavailable, "This server is restarting; try again shortly.", 2
	}
	log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	return http.StatusInternalServerError, "Something went wrong on our side.", 0
}

// respondText writes err as plain text: for the event stream, whose clients are browsers'
// EventSource objects and curl.
func respondText(log *slog.Logger, w http.ResponseWriter, r *http.Request, err error) {
	status, msg, retry := problem(log, r, err)
	if retry > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(retry))
	}
	http.Error(w, msg, status)
}

// respondJSON writes err as {"error": "..."}: for the API.
func respondJSON(log *slog.Logger, w http.ResponseWriter, r *http.Request, err error) {
	status, msg, retry := problem(log, r, err)
	if retry > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(retry))
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(log, w, r, status, struct {
		Error string `json:"error"`
	}{msg})
}
