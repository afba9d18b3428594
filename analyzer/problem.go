package main

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/go-voting-app/voting-app/platform/postgres"
	"github.com/jackc/pgx/v5/pgconn"
)

// problem is an RFC 9457 problem details document. Type is about:blank throughout: the status says
// what kind of problem it is, detail says what went wrong, and errors names the parameters at fault.
type problem struct {
	Type     string       `json:"type"`
	Title    string       `json:"title"`
	Status   int          `json:"status"`
	Detail   string       `json:"detail"`
	Instance string       `json:"instance"`
	Errors   []paramError `json:"errors,omitempty"`
}

// paramError says what is wrong with one query parameter.
type paramError struct {
	Parameter string `json:"parameter"`
	Detail    string `json:"detail"`
}

// invalidParams is the error of a request whose query parameters fail their checks.
type invalidParams []paramError

func (e invalidParams) Error() string {
	msgs := make([]string, len(e))
	for i, p := range e {
		msgs[i] = p.Parameter + ": " + p.Detail
	}
	return strings.Join(msgs, "; ")
}

var (
	errNotFound         = errors.New("no such resource")
	errMethodNotAllowed = errors.New("method not allowed")
)

// problemFor is the one place that decides what a client sees for an error. Internal error text
// never reaches the client; the caller logs it.
func problemFor(err error) problem {
	p := func(status int, detail string) problem {
		return problem{Type: "about:blank", Title: http.StatusText(status), Status: status, Detail: detail}
	}
	var (
		bad   invalidParams
		pgErr *pgconn.PgError
	)
	isPg := errors.As(err, &pgErr)
	switch {
	case errors.As(err, &bad):
		out := p(http.StatusBadRequest, bad.Error())
		out.Errors = bad
		return out
	case errors.Is(err, errNotFound):
		return p(http.StatusNotFound, "There is no resource at this path; the API is described at /api/v1/openapi.yaml.")
	case errors.Is(err, errMethodNotAllowed):
		return p(http.StatusMethodNotAllowed, "This resource only answers GET and HEAD.")
	case errors.Is(err, postgres.ErrNoSchema) || isPg && pgErr.Code == "42P01": // undefined_table
		return p(http.StatusServiceUnavailable, "The database schema does not exist yet; try again shortly.")
	case isPg && pgErr.Code == "57014", errors.Is(err, context.DeadlineExceeded): // query_canceled
		return p(http.StatusServiceUnavailable, "The query took too long; narrow the time range or try again later.")
	case errors.As(err, new(*pgconn.ConnectError)), isPg && strings.HasPrefix(pgErr.Code, "08"):
		return p(http.StatusServiceUnavailable, "The database is unavailable; try again shortly.")
	}
	return p(http.StatusInternalServerError, "The analyzer failed to answer; the error has been logged.")
}

// respond writes the problem for err, and logs the errors that are ours, once, here at the edge.
// A client that went away is not worth a log line.
func respond(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	p := problemFor(err)
	p.Instance = r.URL.Path
	if p.Status >= 500 && r.Context().Err() == nil {
		level := slog.LevelError // ours to fix
		if p.Status == http.StatusServiceUnavailable {
			level = slog.LevelWarn // the database's state, which readiness reports too
		}
		log.LogAttrs(r.Context(), level, "request failed",
			slog.String("path", r.URL.Path), slog.Int("status", p.Status), slog.String("err", err.Error()))
	}
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Cache-Control", "no-store")
	switch p.Status {
	case http.StatusServiceUnavailable:
		h.Set("Retry-After", "5")
	case http.StatusMethodNotAllowed:
		h.Set("Allow", "GET, HEAD")
	}
	w.WriteHeader(p.Status)
	json.NewEncoder(w).Encode(p)
}

// handleProblem answers every request with the problem for err: chi's NotFound and
// MethodNotAllowed, so that even those are problem+json.
func handleProblem(log *slog.Logger, err error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { respond(w, r, log, err) }
}
