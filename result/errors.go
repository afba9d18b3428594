package main

import (
	"errors"
	"net/http"

	"github.com/go-voting-app/voting-app/platform/web"
)

// errNoTally means the database has not answered yet (starting, schema missing, unreachable).
var errNoTally = errors.New("results are not available yet")

// problems is the service's table of errors: what a client sees for each. Everything not listed
// is an internal error, logged once at the edge and shown as a generic message.
func problems(err error) web.Problem {
	unavailable := func(detail string, retryAfter int) web.Problem {
		p := web.NewProblem(http.StatusServiceUnavailable, detail)
		p.RetryAfter = retryAfter
		return p
	}
	switch {
	case errors.Is(err, errNoTally):
		return unavailable("Results are not available yet; try again shortly.", 5)
	case errors.Is(err, errTooManyStreams):
		return unavailable("This server is at its limit of live result streams; try again shortly.", 10)
	case errors.Is(err, errClientHasTooMany):
		p := web.NewProblem(http.StatusTooManyRequests, "Your address holds as many live result streams as one may; close a page or try again later.")
		p.RetryAfter = 10
		return p
	case errors.Is(err, errShuttingDown):
		return unavailable("This server is restarting; try again shortly.", 2)
	case errors.Is(err, web.ErrNotFound):
		return web.NewProblem(http.StatusNotFound, "There is nothing at this address; the results are at / and /api/results.")
	case errors.Is(err, web.ErrMethodNotAllowed):
		return web.ReadOnly()
	}
	return web.NewProblem(http.StatusInternalServerError, "Something went wrong on our side; it has been logged.")
}
