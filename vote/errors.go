package main

import (
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-voting-app/voting-app/platform/web"
)

// kind is what went wrong with a request, in the terms the response needs.
type kind int

const (
	kindBadOption   kind = iota + 1 // no option, or one that is not on the ballot
	kindMalformed                   // a body that cannot be read as a vote
	kindTooLarge                    // a body over maxBody
	kindMediaType                   // a Content-Type the endpoint does not take
	kindCrossOrigin                 // a POST from another site's page
	kindNotFound
)

// requestError is a problem with the request itself. msg is written for the person or program
// that sent it and is safe to show.
type requestError struct {
	kind kind
	msg  string
}

func (e *requestError) Error() string { return e.msg }

// unavailableError wraps a failure to reach the queue. The cause is for the log, not the user.
type unavailableError struct{ err error }

func (e *unavailableError) Error() string { return "queue unavailable: " + e.err.Error() }
func (e *unavailableError) Unwrap() error { return e.err }

// rateLimitedError is a vote beyond the client's allowance (VOTE_RATE_LIMIT); wait is how long
// until the next one is allowed.
type rateLimitedError struct{ wait time.Duration }

func (e *rateLimitedError) Error() string { return "too many votes from one client" }

// queueRetryAfter is what a 503 tells clients, in seconds: about the time Redis needs to restart
// or fail over.
const queueRetryAfter = 5

// Reasons label vote_failures_total: a fixed set, so the metric's cardinality is fixed too.
const (
	reasonBadOption   = "bad_option"
	reasonBadRequest  = "bad_request"
	reasonTooLarge    = "too_large"
	reasonMediaType   = "unsupported_media_type"
	reasonCrossOrigin = "cross_origin"
	reasonRateLimited = "rate_limited"
	reasonUnavailable = "queue_unavailable"
	reasonInternal    = "internal"
)

// failureReasons lists them all, so every series exists from the start.
var failureReasons = []string{
	reasonBadOption, reasonBadRequest, reasonTooLarge, reasonMediaType, reasonCrossOrigin,
	reasonRateLimited, reasonUnavailable, reasonInternal,
}

// outcome is what an error becomes for the client: the problem document (the API's answer, and
// the status, message and Retry-After of the HTML page), the page's heading, and the reason that
// labels vote_failures_total (empty for errors that are not failed votes).
type outcome struct {
	web.Problem
	heading string
	reason  string
}

func newOutcome(status int, heading, msg, reason string) outcome {
	return outcome{Problem: web.NewProblem(status, msg), heading: heading, reason: reason}
}

// classify is the one place that maps errors to statuses and messages.
func classify(err error) outcome {
	if re, ok := errors.AsType[*requestError](err); ok {
		switch re.kind {
		case kindBadOption:
			return newOutcome(http.StatusBadRequest, "Vote not counted", re.msg, reasonBadOption)
		case kindMalformed:
			return newOutcome(http.StatusBadRequest, "Vote not counted", re.msg, reasonBadRequest)
		case kindTooLarge:
			return newOutcome(http.StatusRequestEntityTooLarge, "Vote not counted", re.msg, reasonTooLarge)
		case kindMediaType:
			return newOutcome(http.StatusUnsupportedMediaType, "Vote not counted", re.msg, reasonMediaType)
		case kindCrossOrigin:
			return newOutcome(http.StatusForbidden, "Vote refused", re.msg, reasonCrossOrigin)
		case kindNotFound:
			return newOutcome(http.StatusNotFound, "Page not found", re.msg, "")
		}
	}
	if rl, ok := errors.AsType[*rateLimitedError](err); ok {
		o := newOutcome(http.StatusTooManyRequests, "Too many votes",
			"Too many votes came from your address in a short time, so this one was not counted. Wait a moment and vote again; only your last vote counts.",
			reasonRateLimited)
		// Whole seconds, rounded up and at least one: a client that waits as told is let through.
		o.RetryAfter = max(1, int(math.Ceil(rl.wait.Seconds())))
		return o
	}
	if _, ok := errors.AsType[*unavailableError](err); ok {
		o := newOutcome(http.StatusServiceUnavailable, "Voting is briefly unavailable",
			"Your vote may not have been recorded. Please vote again in a few seconds; only your last vote counts.",
			reasonUnavailable)
		o.RetryAfter = queueRetryAfter
		return o
	}
	return newOutcome(http.StatusInternalServerError, "Something went wrong",
		"Your vote may not have been recorded. Please try again.", reasonInternal)
}

// fail answers a request that failed with err: a problem document under /api/ and for static
// files, an HTML page for the pages people open. Failures of our own (5xx) are logged here, once;
// the client sees only the message.
func (s *site) fail(w http.ResponseWriter, r *http.Request, err error) {
	o := classify(err)
	switch {
	case o.Status == http.StatusServiceUnavailable:
		s.log.Warn("vote not recorded", "err", err)
	case o.Status >= 500:
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if strings.HasPrefix(r.URL.Path, "/api/") || strings.HasPrefix(r.URL.Path, "/static/") {
		web.WriteProblem(w, r, o.Problem)
		return
	}
	if o.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(o.RetryAfter))
	}
	s.page(w, o.Status, errorPage(s.frame, errorView{Title: o.heading, Message: o.Detail}))
}
