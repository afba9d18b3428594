package main

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-voting-app/voting-app/platform/postgres"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/singleflight"
)

// answers bounds what the API's requests cost the database, whatever their parameters and however
// many clients ask. Every answer is a function of the data, the request's parameters and, for
// the ones that look back from now, the 10-second interval now falls in (the resolution the votes
// are counted in). The data's version (postgres.DataVersion, one row, read at most every
// versionTTL) names it in an ETag: a client that already has the answer gets 304, a repeated
// question is answered from memory, and only a new one is computed, at most maxInflight at once;
// beyond that the client gets 503 with Retry-After.
type answers struct {
	log         *slog.Logger
	st          *store
	now         func() time.Time
	versionTTL  time.Duration
	maxEntries  int
	slots       chan struct{}
	versionCall singleflight.Group
	computing   singleflight.Group // by ETag: clients asking the same question share one computation

	mu       sync.Mutex
	version  int64
	versedAt time.Time
	entries  map[string]answer // by ETag
	order    []string          // insertion order, for eviction

	served *prometheus.CounterVec
}

type answer struct {
	status int
	header http.Header
	body   []byte
}

// newAnswers returns the layer; versionTTL is how long a data version read is reused (the answers
// may lag the data by that much).
func newAnswers(log *slog.Logger, st *store, now func() time.Time, versionTTL time.Duration, maxInflight int, reg prometheus.Registerer) *answers {
	served := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "analyzer_answers_total",
		Help: "API answers by how they were served: not_modified (304 on the ETag), cached, computed, refused (503: too many at once).",
	}, []string{"how"})
	for _, how := range []string{"not_modified", "cached", "computed", "refused"} {
		served.WithLabelValues(how)
	}
	reg.MustRegister(served)
	return &answers{log: log, st: st, now: now, versionTTL: versionTTL, maxEntries: 512,
		slots: make(chan struct{}, maxInflight), entries: map[string]answer{}, served: served}
}

// errBusy is the answer beyond maxInflight computations.
var errBusy = errors.New("too many questions at once")

// Serve wraps a GET handler. timeBound says the answer depends on the current time.
func (a *answers) Serve(next http.Handler, timeBound bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		version, err := a.currentVersion(r.Context())
		if err != nil {
			respond(w, r, a.log, err)
			return
		}
		etag := a.etag(r, version, timeBound)
		h := w.Header()
		h.Set("ETag", etag)
		h.Set("Cache-Control", "no-cache")
		if matches(r.Header.Get("If-None-Match"), etag) {
			a.served.WithLabelValues("not_modified").Inc()
			w.WriteHeader(http.StatusNotModified)
			return
		}
		if ans, ok := a.lookup(etag); ok {
			a.served.WithLabelValues("cached").Inc()
			write(w, ans)
			return
		}
		v, _, _ := a.computing.Do(etag, func() (any, error) {
			select {
			case a.slots <- struct{}{}:
				defer func() { <-a.slots }()
			default:
				return nil, nil // every slot is taken
			}
			a.served.WithLabelValues("computed").Inc()
			// Computed for everyone asking: one client leaving must not cut it short for the others;
			// the store bounds it by QUERY_TIMEOUT.
			rec := &recorder{header: http.Header{}, status: http.StatusOK}
			next.ServeHTTP(rec, r.WithContext(context.WithoutCancel(r.Context())))
			ans := answer{status: rec.status, header: rec.header, body: rec.body.Bytes()}
			if ans.status == http.StatusOK {
				a.keep(etag, ans)
			}
			return ans, nil
		})
		ans, ok := v.(answer)
		if !ok {
			a.served.WithLabelValues("refused").Inc()
			h.Del("ETag")
			respond(w, r, a.log, errBusy)
			return
		}
		if ans.status != http.StatusOK {
			h.Del("ETag")
		}
		write(w, ans)
	}
}

func write(w http.ResponseWriter, ans answer) {
	for k, v := range ans.header {
		w.Header()[k] = v
	}
	w.WriteHeader(cmp.Or(ans.status, http.StatusOK))
	w.Write(ans.body)
}

// currentVersion reads the data's version, once per versionTTL whatever the number of requests.
func (a *answers) currentVersion(ctx context.Context) (int64, error) {
	a.mu.Lock()
	if time.Since(a.versedAt) < a.versionTTL {
		v := a.version
		a.mu.Unlock()
		return v, nil
	}
	a.mu.Unlock()
	v, err, _ := a.versionCall.Do("version", func() (any, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.st.timeout)
		defer cancel()
		v, err := postgres.DataVersion(ctx, a.st.pool)
		if err == nil {
			a.mu.Lock()
			a.version, a.versedAt = v, time.Now()
			a.mu.Unlock()
		}
		return v, err
	})
	if err != nil {
		return 0, err
	}
	return v.(int64), nil
}

// etag names an answer: the data's version, the interval now falls in when the answer depends on
// it, and a hash of the path and the parameters in a canonical order. Replicas that see the same
// data give the same ETag.
func (a *answers) etag(r *http.Request, version int64, timeBound bool) string {
	q := r.URL.Query()
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range q {
			if !yield(k) {
				return
			}
		}
	})
	canon := url.Values{}
	for _, k := range keys {
		canon[k] = q[k]
	}
	sum := sha256.Sum256([]byte(r.URL.Path + "?" + canon.Encode()))
	at := int64(0)
	if timeBound {
		at = floor(a.now()).Unix()
	}
	return `"` + strconv.FormatInt(version, 10) + "-" + strconv.FormatInt(at, 10) + "-" + hex.EncodeToString(sum[:8]) + `"`
}

func (a *answers) lookup(etag string) (answer, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	ans, ok := a.entries[etag]
	return ans, ok
}

// keep stores an answer, dropping the oldest beyond maxEntries: answers of an older version or
// interval are never asked for again, so the oldest are the first to go.
func (a *answers) keep(etag string, ans answer) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.entries[etag]; ok {
		return
	}
	a.entries[etag] = ans
	a.order = append(a.order, etag)
	for len(a.order) > a.maxEntries {
		delete(a.entries, a.order[0])
		a.order = a.order[1:]
	}
}

// matches reports whether an If-None-Match header names etag (or is *).
func matches(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == etag || t == "*" {
			return true
		}
	}
	return false
}

// recorder keeps a handler's answer in memory.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) Write(b []byte) (int, error) { return r.body.Write(b) }
func (r *recorder) WriteHeader(status int)      { r.status = status }
