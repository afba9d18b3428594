package main

import (
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/go-voting-app/voting-app/platform/web"
)

// maxClients bounds the clients the vote limit keeps a bucket for (about 100 bytes each), so a
// flood from many addresses costs the service a few MiB at most.
const maxClients = 65_536

// clientLimiter is the per-client vote limit: a token bucket per client address that refills at
// perSecond up to burst. A bucket that has refilled completely is the same as no bucket at all,
// so buckets are dropped once they have been idle that long; memory follows the clients active in
// the last few seconds, not every client ever seen.
type clientLimiter struct {
	perSecond float64
	burst     float64
	full      time.Duration // time an empty bucket takes to refill: idle buckets older than this are dropped
	addrs     web.ClientAddrs
	now       func() time.Time

	mu        sync.Mutex
	buckets   map[netip.Addr]*bucket
	lastSweep time.Time
}

type bucket struct {
	tokens float64
	at     time.Time // when tokens was last brought up to date
}

// newClientLimiter returns the limit, or nil (no limit) when perSecond is 0.
func newClientLimiter(perSecond, burst int, addrs web.ClientAddrs, now func() time.Time) *clientLimiter {
	if perSecond <= 0 {
		return nil
	}
	burst = max(burst, 1)
	return &clientLimiter{
		perSecond: float64(perSecond),
		burst:     float64(burst),
		full:      time.Duration(float64(burst) / float64(perSecond) * float64(time.Second)),
		addrs:     addrs,
		now:       now,
		buckets:   make(map[netip.Addr]*bucket),
	}
}

// allow takes one vote from the bucket of the request's client. When the bucket is empty it
// returns false and how long until the next vote is allowed.
func (l *clientLimiter) allow(r *http.Request) (bool, time.Duration) {
	client := l.addrs.Of(r)
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.sweep(now)
	b, ok := l.buckets[client]
	if !ok {
		if len(l.buckets) >= maxClients {
			l.evictOne()
		}
		b = &bucket{tokens: l.burst, at: now}
		l.buckets[client] = b
	}
	b.tokens = min(l.burst, b.tokens+now.Sub(b.at).Seconds()*l.perSecond)
	b.at = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / l.perSecond * float64(time.Second))
}

// sweep drops the buckets that have refilled completely, at most once per refill time, so its
// cost is spread over many votes. Call with l.mu held.
func (l *clientLimiter) sweep(now time.Time) {
	if now.Sub(l.lastSweep) < l.full {
		return
	}
	l.lastSweep = now
	for addr, b := range l.buckets {
		if now.Sub(b.at) >= l.full {
			delete(l.buckets, addr)
		}
	}
}

// evictOne makes room when more clients than maxClients were active within one refill time: an
// arbitrary one loses its bucket and starts again with a full one. Under such a flood the limit
// grows lenient for some addresses, but memory stays bounded. Call with l.mu held.
func (l *clientLimiter) evictOne() {
	for addr := range l.buckets {
		delete(l.buckets, addr)
		return
	}
}

// clients returns how many clients have a bucket now, for the metrics.
func (l *clientLimiter) clients() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// limitVotes refuses a vote beyond the client's allowance with 429 and Retry-After before anything
// of it is read. A nil limiter lets every vote through.
func limitVotes(s *site, m *metrics, l *clientLimiter) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		if l == nil {
			return next
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if ok, wait := l.allow(r); !ok {
				err := &rateLimitedError{wait: wait}
				m.failed(err)
				s.fail(w, r, err)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}
