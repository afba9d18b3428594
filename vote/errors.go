package main

import (
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
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

// outcome is what an error becomes for the client.
type outcome struct {
	status int
	title  string // heading of the error page
	msg    string // what happened and what to do
	reason string // for vote_failures_total; empty for errors that are not failed votes
	// retryAfter is the Retry-After header in seconds, when the client may try again later; 0
	// for none.
	retryAfter int
}

// classify is the one place that maps errors to statuses and messages.
func classify(err error) outcome {
	if re, ok := errors.AsType[*requestError](err); ok {
		switch re.kind {
		case kindBadOption:
			return outcome{status: http.StatusBadRequest, title: "Vote not counted", msg: re.msg, reason: reasonBadOption}
		case kindMalformed:
			return outcome{status: http.StatusBadRequest, title: "Vote not counted", msg: re.msg, reason: reasonBadRequest}
		case kindTooLarge:
			return outcome{status: http.StatusRequestEntityTooLarge, title: "Vote not counted", msg: re.msg, reason: reasonTooLarge}
		case kindMediaType:
			return outcome{status: http.StatusUnsupportedMediaType, title: "Vote not counted", msg: re.msg, reason: reasonMediaType}
		case kindCrossOrigin:
			return outcome{status: http.StatusForbidden, title: "Vote refused", msg: re.msg, reason: reasonCrossOrigin}
		case kindNotFound:
			return outcome{status: http.StatusNotFound, title: "Page not found", msg: re.msg}
		}
	}
	if rl, ok := errors.AsType[*rateLimitedError](err); ok {
		// Whole seconds, rounded up and at least one: a client that waits as told is let through.
		secs := max(1, int(math.Ceil(rl.wait.Seconds())))
		return outcome{status: http.StatusTooManyRequests, title: "Too many votes",
			msg:    "Too many votes came from your address in a short time, so this one was not counted. Wait a moment and vote again; only your last vote counts.",
			reason: reasonRateLimited, retryAfter: secs}
	}
	if _, ok := errors.AsType[*unavailableError](err); ok {
		return outcome{status: http.StatusServiceUnavailable, title: "Voting is briefly unavailable",
			msg:    "Your vote may not have been recorded. Please vote again in a few seconds; only your last vote counts.",
			reason: reasonUnavailable, retryAfter: queueRetryAfter}
	}
	return outcome{status: http.StatusInternalServerError, title: "Something went wrong",
		msg: "Your vote may not have been recorded. Please try again.", reason: reasonInternal}
}

// fail answers a request that failed with err: a problem+json document under /api/, an HTML page
// elsewhere. Failures of our own (5xx) are logged here, once; the client sees only the message.
func (s *site) fail(w http.ResponseWriter, r *http.Request, err error) {
	o := classify(err)
	if o.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(o.retryAfter))
	}
	switch {
	case o.status == http.StatusServiceUnavailable:
		s.log.Warn("vote not recorded", "err", err)
	case o.status >= 500:
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if strings.HasPrefix(r.URL.Path, "/api/") {
		writeProblem(w, o)
		return
	}
	s.page(w, o.status, errorPage(s.frame, errorView{Title: o.title, Message: o.msg}))
}

// writeProblem writes an RFC 9457 problem document.
func writeProblem(w http.ResponseWriter, o outcome) {
	type problem struct {
		Type   string `json:"type"`
		Title  string `json:"title"`
		Status int    `json:"status"`
		Detail string `json:"detail"`
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, o.status, "application/problem+json",
		problem{Type: "about:blank", Title: http.StatusText(o.status), Status: o.status, Detail: o.msg})
}
