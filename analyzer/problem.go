package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/go-voting-app/voting-app/platform/postgres"
	"github.com/go-voting-app/voting-app/platform/web"
	"github.com/jackc/pgx/v5/pgconn"
)

// invalidParams is the error of a request whose query parameters fail their checks.
type invalidParams []web.FieldError

func (e invalidParams) Error() string {
	msgs := make([]string, len(e))
	for i, p := range e {
		msgs[i] = p.Parameter + ": " + p.Detail
	}
	return strings.Join(msgs, "; ")
}

// problemFor is the analyzer's table of errors: the one place that decides what a client sees for
// an error. Internal error text never reaches the client; web.Problems.Respond logs it.
func problemFor(err error) web.Problem {
	unavailable := func(detail string) web.Problem {
		p := web.NewProblem(http.StatusServiceUnavailable, detail)
		p.RetryAfter = 5
		return p
	}
	var (
		bad   invalidParams
		pgErr *pgconn.PgError
	)
	isPg := errors.As(err, &pgErr)
	switch {
	case errors.As(err, &bad):
		p := web.NewProblem(http.StatusBadRequest, bad.Error())
		p.Errors = bad
		return p
	case errors.Is(err, errBusy):
		p := web.NewProblem(http.StatusServiceUnavailable, "The analyzer is answering as many questions as it may at once; ask again in a moment.")
		p.RetryAfter = 1
		return p
	case errors.Is(err, web.ErrNotFound):
		return web.NewProblem(http.StatusNotFound, "There is no resource at this path; the API is described at /api/v1/openapi.yaml.")
	case errors.Is(err, web.ErrMethodNotAllowed):
		return web.ReadOnly()
	case errors.Is(err, postgres.ErrNoSchema) || isPg && pgErr.Code == "42P01": // undefined_table
		return unavailable("The database schema does not exist yet; try again shortly.")
	case isPg && pgErr.Code == "57014", errors.Is(err, context.DeadlineExceeded): // query_canceled
		return unavailable("The query took too long; narrow the time range or try again later.")
	case errors.As(err, new(*pgconn.ConnectError)), isPg && strings.HasPrefix(pgErr.Code, "08"):
		return unavailable("The database is unavailable; try again shortly.")
	}
	return web.NewProblem(http.StatusInternalServerError, "The analyzer failed to answer; the error has been logged.")
}

// respond writes the problem for err.
func respond(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	web.Problems(problemFor).Respond(log, w, r, err)
}

// handleProblem answers every request with the problem for err: chi's NotFound and
// MethodNotAllowed, so that even those are problem+json.
func handleProblem(log *slog.Logger, err error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { respond(w, r, log, err) }
}
