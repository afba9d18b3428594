package main

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/go-voting-app/voting-app/platform/postgres"
	"github.com/go-voting-app/voting-app/platform/web"
)

// params reads query parameters, collecting every problem so that a client learns about all of
// them from one 400. Unknown parameters are ignored.
type params struct {
	values url.Values
	errs   invalidParams
}

func newParams(r *http.Request) *params { return &params{values: r.URL.Query()} }

// err returns the problems found so far as invalidParams, or nil.
func (p *params) err() error {
	if len(p.errs) == 0 {
		return nil
	}
	return p.errs
}

func (p *params) fail(name, format string, args ...any) {
	p.errs = append(p.errs, web.FieldError{Parameter: name, Detail: fmt.Sprintf(format, args...)})
}

// raw returns the parameter's value, failing on a repeated parameter: of two values, taking
// either would silently ignore the other.
func (p *params) raw(name string) (string, bool) {
	vs, ok := p.values[name]
	switch {
	case !ok || len(vs) == 1 && vs[0] == "":
		return "", false
	case len(vs) > 1:
		p.fail(name, "is given %d times; give it once", len(vs))
		return "", false
	}
	return vs[0], true
}

// duration reads a Go duration such as 90s, 5m or 1h30m within [lo, hi].
func (p *params) duration(name string, def, lo, hi time.Duration) time.Duration {
	s, ok := p.raw(name)
	if !ok {
		return def
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		p.fail(name, "%q is not a duration such as 30s, 5m or 1h", quote(s))
		return def
	}
	if d < lo || d > hi {
		p.fail(name, "%s is outside [%s, %s]", d, lo, hi)
		return def
	}
	return d
}

// bucket reads a bucket width: a whole number of the intervals the votes are counted in
// (postgres.RollupInterval, 10 s), so every bucket is made of whole intervals.
func (p *params) bucket(name string, def, lo, hi time.Duration) time.Duration {
	d := p.duration(name, def, lo, hi)
	if d%postgres.RollupInterval != 0 {
		p.fail(name, "%s is not a whole multiple of %s, the interval votes are counted in", d, postgres.RollupInterval)
		return def
	}
	return d
}

// floor and ceil round a time to the interval votes are counted in: ranges are answered in whole
// intervals, the start rounded down and the end up, so they cover at least what was asked.
func floor(t time.Time) time.Time { return t.UTC().Truncate(postgres.RollupInterval) }

func ceil(t time.Time) time.Time {
	if f := floor(t); !f.Equal(t) {
		return f.Add(postgres.RollupInterval)
	}
	return t.UTC()
}

// time reads an RFC 3339 timestamp such as 2025-01-02T15:04:05Z. Postgres keeps microseconds, so
// finer digits are dropped here rather than disagree with it about bucket boundaries.
func (p *params) time(name string, def time.Time) time.Time {
	s, ok := p.raw(name)
	if !ok {
		return def
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		p.fail(name, "%q is not an RFC 3339 time such as 2025-01-02T15:04:05Z", quote(s))
		return def
	}
	return t.UTC().Truncate(time.Microsecond)
}

// float reads a number within [lo, hi].
func (p *params) float(name string, def, lo, hi float64) float64 {
	s, ok := p.raw(name)
	if !ok {
		return def
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		p.fail(name, "%q is not a number", quote(s))
		return def
	}
	if !(f >= lo && f <= hi) { // also catches NaN
		p.fail(name, "%g is outside [%g, %g]", f, lo, hi)
		return def
	}
	return f
}

// int reads an integer within [lo, hi].
func (p *params) int(name string, def, lo, hi int64) int64 {
	s, ok := p.raw(name)
	if !ok {
		return def
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		p.fail(name, "%q is not an integer", quote(s))
		return def
	}
	if n < lo || n > hi {
		p.fail(name, "%d is outside [%d, %d]", n, lo, hi)
		return def
	}
	return n
}

// quote shortens a client's value for an error message.
func quote(s string) string {
	const max = 40
	if r := []rune(s); len(r) > max {
		return string(r[:max]) + "…"
	}
	return s
}

// maxBuckets bounds the buckets one request may ask for, so that a response stays small; maxSpan
// bounds the time a request may cover, so that the rows of the rollup behind it stay few (a week is
// 60,480 intervals per option, whatever the number of votes).
const (
	maxBuckets = 1000
	maxSpan    = 7 * 24 * time.Hour
)

// countBuckets returns how many buckets of width bucket cover [from, to).
func countBuckets(from, to time.Time, bucket time.Duration) int64 {
	return bucketsIn(to.Sub(from), bucket) // Sub saturates at about 292 years, still far over maxBuckets
}

// bucketsIn returns how many buckets of width bucket cover a span, the last one possibly short.
func bucketsIn(span, bucket time.Duration) int64 {
	n := int64(span / bucket)
	if span%bucket != 0 {
		n++
	}
	return n
}
