package postgres

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
)

// Fault says what an error from the database means for the write that got it.
type Fault int

const (
	// Unexplained errors say nothing about the votes written: permissions, a missing schema,
	// authentication, anything unknown. Retrying may help once someone fixes the cause; the
	// votes must wait, never be set aside.
	Unexplained Fault = iota
	// Transient errors pass by themselves: a lost or refused connection, a serialization
	// failure or deadlock, a server shutting down or short of resources, a timeout.
	Transient
	// DataFault errors name the content of the rows written: a value out of range, a constraint
	// violated. The same rows fail again however often they are retried.
	DataFault
)

func (f Fault) String() string {
	switch f {
	case Transient:
		return "transient"
	case DataFault:
		return "data"
	}
	return "unexplained"
}

// Classify reads an error returned by a write. The SQLSTATE classes are PostgreSQL's (Appendix A
// of its manual).
func Classify(err error) Fault {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		code := pgErr.Code
		switch {
		case strings.HasPrefix(code, "22"), // data exception: out of range, invalid text, …
			strings.HasPrefix(code, "23"), // integrity constraint violation
			code == "44000",               // with check option violation: a row outside a view
			code == "54000":               // program limit exceeded: e.g. a row too large for an index
			return DataFault
		case strings.HasPrefix(code, "08"), // connection exception
			code == "40001", code == "40P01", // serialization failure, deadlock
			strings.HasPrefix(code, "53"),  // insufficient resources
			strings.HasPrefix(code, "57P"), // operator intervention: shutdown, cannot connect now
			code == "57014",                // query canceled: statement_timeout
			code == "55P03":                // lock not available: lock_timeout
			return Transient
		}
		return Unexplained
	}
	// Not the server's answer: the connection (a refused or failed dial, one that broke in the
	// middle of the conversation), or the attempt's own deadline.
	var netErr net.Error
	switch {
	case errors.As(err, new(*pgconn.ConnectError)), errors.As(err, &netErr),
		errors.Is(err, context.DeadlineExceeded), pgconn.Timeout(err), pgconn.SafeToRetry(err),
		errors.Is(err, pgconn.ErrConnClosed), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, net.ErrClosed), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return Transient
	}
	return Unexplained
}

// Reason is the error as a dead letter or a log line should give it: the SQLSTATE, the server's
// message and, where it has one, the detail naming the value.
func Reason(err error) string {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return err.Error()
	}
	r := "SQLSTATE " + pgErr.Code + ": " + pgErr.Message
	if pgErr.Detail != "" {
		r += " (" + pgErr.Detail + ")"
	}
	return r
}
