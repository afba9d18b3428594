package main

import (
	"errors"
	"net/http"
	"strings"
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

// retryAfter is what a 503 tells clients: about the time Redis needs to restart or fail over.
const retryAfter = "5"

// Reasons label vote_failures_total: a fixed set, so the metric's cardinality is fixed too.
const (
	reasonBadOption   = "bad_option"
	reasonBadRequest  = "bad_request"
	reasonTooLarge    = "too_large"
	reasonMediaType   = "unsupported_media_type"
	reasonCrossOrigin = "cross_origin"
	reasonUnavailable = "queue_unavailable"
	reasonInternal    = "internal"
)

// failureReasons lists them all, so every series exists from the start.
var failureReasons = []string{
	reasonBadOption, reasonBadRequest, reasonTooLarge, reasonMediaType, reasonCrossOrigin,
	reasonUnavailable, reasonInternal,
}

// outcome is what an error becomes for the client.
type outcome struct {
	status int
	title  string // heading of the error page
	msg    string // what happened and what to do
	reason string // for vote_failures_total; empty for errors that are not failed votes
}

// classify is the one place that maps errors to statuses and messages.
func classify(err error) outcome {
	if re, ok := errors.AsType[*requestError](err); ok {
		switch re.kind {
		case kindBadOption:
			return outcome{http.StatusBadRequest, "Vote not counted", re.msg, reasonBadOption}
		case kindMalformed:
			return outcome{http.StatusBadRequest, "Vote not counted", re.msg, reasonBadRequest}
		case kindTooLarge:
			return outcome{http.StatusRequestEntityTooLarge, "Vote not counted", re.msg, reasonTooLarge}
		case kindMediaType:
			return outcome{http.StatusUnsupportedMediaType, "Vote not counted", re.msg, reasonMediaType}
		case kindCrossOrigin:
			return outcome{http.StatusForbidden, "Vote refused", re.msg, reasonCrossOrigin}
		case kindNotFound:
			return outcome{http.StatusNotFound, "Page not found", re.msg, ""}
		}
	}
	if _, ok := errors.AsType[*unavailableError](err); ok {
		return outcome{http.StatusServiceUnavailable, "Voting is briefly unavailable",
			"Your vote may not have been recorded. Please vote again in a few seconds; only your last vote counts.", reasonUnavailable}
	}
	return outcome{http.StatusInternalServerError, "Something went wrong",
		"Your vote may not have been recorded. Please try again.", reasonInternal}
}

// fail answers a request that failed with err: a problem+json document under /api/, an HTML page
// elsewhere. Failures of our own (5xx) are logged here, once; the client sees only the message.
func (s *site) fail(w http.ResponseWriter, r *http.Request, err error) {
	o := classify(err)
	switch {
	case o.status == http.StatusServiceUnavailable:
		s.log.Warn("vote not recorded", "err", err)
		w.Header().Set("Retry-After", retryAfter)
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
