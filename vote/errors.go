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

// outcome is what an error becomes for the client.
type outcome struct {
	status int
	title  string // heading of the error page
	msg    string // what happened and what to do
	// reason labels vote_failures_total; a fixed set, so the metric's cardinality is too.
	reason string
}

// classify is the one place that maps errors to statuses and messages.
func classify(err error) outcome {
	var re *requestError
	if errors.As(err, &re) {
		switch re.kind {
		case kindBadOption:
			return outcome{http.StatusBadRequest, "Vote not counted", re.msg, "bad_option"}
		case kindMalformed:
			return outcome{http.StatusBadRequest, "Vote not counted", re.msg, "bad_request"}
		case kindTooLarge:
			return outcome{http.StatusRequestEntityTooLarge, "Vote not counted", re.msg, "too_large"}
		case kindMediaType:
			return outcome{http.StatusUnsupportedMediaType, "Vote not counted", re.msg, "unsupported_media_type"}
		case kindCrossOrigin:
			return outcome{http.StatusForbidden, "Vote refused", re.msg, "cross_origin"}
		case kindNotFound:
			return outcome{http.StatusNotFound, "Page not found", re.msg, ""}
		}
	}
	var ue *unavailableError
	if errors.As(err, &ue) {
		return outcome{http.StatusServiceUnavailable, "Voting is briefly unavailable",
			"Your vote was not recorded. Please try again in a few seconds.", "queue_unavailable"}
	}
	return outcome{http.StatusInternalServerError, "Something went wrong",
		"Your vote may not have been recorded. Please try again.", "internal"}
}

// failureReasons are every reason classify gives a failed vote, so the metric starts at zero.
var failureReasons = []string{
	"bad_option", "bad_request", "too_large", "unsupported_media_type", "cross_origin",
	"queue_unavailable", "internal",
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
	s.page(w, r, o.status, "error.html", errorPage{Title: o.title, Message: o.msg})
}

type errorPage struct {
	Title   string
	Message string
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
