// Package config reads a service's settings from environment variables once, at start, into typed
// values. Every getter records a problem instead of failing fast, so a misconfigured service reports
// all of its mistakes in one error.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"
)

// Env reads variables through a getenv function (os.Getenv in production, a map in tests).
type Env struct {
	getenv   func(string) string
	readFile func(string) ([]byte, error)
	errs     []error
}

// New returns an Env that reads variables with getenv and secret files from the file system.
func New(getenv func(string) string) *Env {
	return &Env{getenv: getenv, readFile: os.ReadFile}
}

// Err reports every problem found so far, or nil.
func (e *Env) Err() error { return errors.Join(e.errs...) }

func (e *Env) fail(name, format string, args ...any) {
	e.errs = append(e.errs, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...)))
}

// String returns the variable, or def when it is unset or empty.
func (e *Env) String(name, def string) string {
	if v := strings.TrimSpace(e.getenv(name)); v != "" {
		return v
	}
	return def
}

// Int returns the variable as an integer within [lo, hi], or def when unset.
func (e *Env) Int(name string, def, lo, hi int) int {
	raw := e.String(name, "")
	if raw == "" {
		return def
	}
	n, err := strconv.Atoi(raw)
	if err != nil {
		e.fail(name, "%q is not an integer", raw)
		return def
	}
	if n < lo || n > hi {
		e.fail(name, "%d is outside [%d, %d]", n, lo, hi)
		return def
	}
	return n
}

// Duration returns the variable as a Go duration ("250ms", "5s") within [lo, hi], or def when unset.
func (e *Env) Duration(name string, def, lo, hi time.Duration) time.Duration {
	raw := e.String(name, "")
	if raw == "" {
		return def
	}
	d, err := time.ParseDuration(raw)
	if err != nil {
		e.fail(name, "%q is not a duration such as 500ms or 5s", raw)
		return def
	}
	if d < lo || d > hi {
		e.fail(name, "%s is outside [%s, %s]", d, lo, hi)
		return def
	}
	return d
}

// Bool returns the variable as a boolean (true/false/1/0/yes/no), or def when unset.
func (e *Env) Bool(name string, def bool) bool {
	raw := strings.ToLower(e.String(name, ""))
	switch raw {
	case "":
		return def
	case "1", "true", "yes", "on":
		return true
	case "0", "false", "no", "off":
		return false
	}
	e.fail(name, "%q is not a boolean", raw)
	return def
}

// Secret returns a secret from the variable NAME or from the file named by NAME_FILE (the Docker and
// Kubernetes secrets convention). Setting both is an error, because one of them would be ignored.
// One trailing newline is removed from file contents.
func (e *Env) Secret(name string) Secret {
	direct := e.getenv(name)
	path := strings.TrimSpace(e.getenv(name + "_FILE"))
	switch {
	case direct != "" && path != "":
		e.fail(name, "set either %s or %s_FILE, not both", name, name)
		return ""
	case path != "":
		b, err := e.readFile(path)
		if err != nil {
			e.fail(name+"_FILE", "cannot read secret file: %v", err)
			return ""
		}
		s := strings.TrimSuffix(string(b), "\n")
		return Secret(strings.TrimSuffix(s, "\r"))
	}
	return Secret(direct)
}

// Secret is a string that never prints: fmt and slog show it as [redacted] (or empty when unset).
type Secret string

// Reveal returns the secret itself, for the one place that needs it.
func (s Secret) Reveal() string { return string(s) }

// String keeps secrets out of fmt output.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}

// LogValue keeps secrets out of structured logs.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }
