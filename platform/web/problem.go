package web

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
)

// Problem is an RFC 9457 problem details document: the one shape of every error a service's
// public endpoints answer. Type is about:blank throughout: the status says what kind of problem it
// is, Detail says what went wrong and what to do, in words for the person or program that sent the
// request, and Errors names the parameters or fields at fault.
type Problem struct {
	Type     string       `json:"type"`
	Title    string       `json:"title"`
	Status   int          `json:"status"`
	Detail   string       `json:"detail"`
	Instance string       `json:"instance"`
	Errors   []FieldError `json:"errors,omitempty"`

	// RetryAfter, in seconds, becomes the Retry-After header when positive.
	RetryAfter int `json:"-"`
	// Allow becomes the Allow header (405).
	Allow string `json:"-"`
}

// FieldError says what is wrong with one query parameter or body field.
type FieldError struct {
	Parameter string `json:"parameter"`
	Detail    string `json:"detail"`
}

// NewProblem returns the problem for status with a detail message.
func NewProblem(status int, detail string) Problem {
	return Problem{Type: "about:blank", Title: http.StatusText(status), Status: status, Detail: detail}
}

// Problems is a service's table of errors: it decides, in one place, what a client sees for each
// error. Errors it does not know are the server's own, a 500 whose detail never shows the error.
type Problems func(error) Problem

// Respond writes the problem the table gives for err, as application/problem+json. Errors that are
// the server's own (500 and the like) are logged here, once, at the edge, at error level. A 503 is
// a state the table knows (a dependency away, a limit reached), which readiness and the access log
// report already: its cause is logged at debug. A client that went away is not worth a line.
func (t Problems) Respond(log *slog.Logger, w http.ResponseWriter, r *http.Request, err error) {
	p := t(err)
	if p.Status >= 500 && !errors.Is(r.Context().Err(), context.Canceled) {
		level := slog.LevelError
		if p.Status == http.StatusServiceUnavailable {
			level = slog.LevelDebug
		}
		log.LogAttrs(r.Context(), level, "request failed", slog.String("method", r.Method),
			slog.String("path", r.URL.Path), slog.Int("status", p.Status), slog.String("err", err.Error()))
	}
	WriteProblem(w, r, p)
}

// WriteProblem writes p as application/problem+json, never cached, with its Retry-After and Allow
// headers, its instance the request's path.
func WriteProblem(w http.ResponseWriter, r *http.Request, p Problem) {
	if p.Type == "" {
		p.Type = "about:blank"
	}
	if p.Title == "" {
		p.Title = http.StatusText(p.Status)
	}
	p.Instance = r.URL.Path
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	if p.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(p.RetryAfter))
	}
	if p.Allow != "" {
		h.Set("Allow", p.Allow)
	}
	write(w, p.Status, "application/problem+json", p)
}

// Common problems, for the routers' NotFound and MethodNotAllowed handlers.
var (
	ErrNotFound         = errors.New("no such resource")
	ErrMethodNotAllowed = errors.New("method not allowed")
)

// ReadOnly is the problem of a service whose public resources all answer GET and HEAD alone, for
// ErrMethodNotAllowed.
func ReadOnly() Problem {
	p := NewProblem(http.StatusMethodNotAllowed, "This resource only answers GET and HEAD.")
	p.Allow = "GET, HEAD"
	return p
}
