package main

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"
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
	addrs     clientAddrs
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
func newClientLimiter(perSecond, burst int, addrs clientAddrs, now func() time.Time) *clientLimiter {
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
	client := l.addrs.of(r)
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

// clientAddrs finds the address a request's votes are counted under. It is the connection's peer
// (RemoteAddr), unless that peer is one of the trusted proxies: then the header they set names the
// client. An IPv6 client counts by its /64, the block one host usually gets, so that it cannot
// escape the limit by changing addresses within it.
type clientAddrs struct {
	trusted []netip.Prefix
	header  string // e.g. X-Forwarded-For; read only from trusted proxies
}

// parseClientAddrs reads TRUSTED_PROXIES: addresses or CIDR prefixes, separated by commas.
func parseClientAddrs(trusted, header string) (clientAddrs, error) {
	c := clientAddrs{header: header}
	var bad []string
	for s := range strings.SplitSeq(trusted, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if p, err := netip.ParsePrefix(s); err == nil {
			c.trusted = append(c.trusted, p.Masked())
		} else if a, err := netip.ParseAddr(s); err == nil {
			c.trusted = append(c.trusted, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
		} else {
			bad = append(bad, fmt.Sprintf("%q", s))
		}
	}
	if len(bad) > 0 {
		return c, fmt.Errorf("TRUSTED_PROXIES: %s: want IP addresses or CIDR prefixes such as 10.0.0.0/8", strings.Join(bad, ", "))
	}
	return c, nil
}

// of returns the key the request's client is counted under.
func (c clientAddrs) of(r *http.Request) netip.Addr {
	peer := parseHost(r.RemoteAddr)
	if len(c.trusted) == 0 || !c.isTrusted(peer) {
		return key(peer)
	}
	// Proxies append: the rightmost entries were added by the proxies in front of this service,
	// the leftmost by whoever sent the request, which may be anyone. So the client is the first
	// address from the right that is not a trusted proxy; anything left of it is not believed.
	hops := strings.Split(strings.Join(r.Header.Values(c.header), ","), ",")
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		client = a.Unmap()
		if !c.isTrusted(client) {
			break
		}
	}
	return key(client)
}

func (c clientAddrs) isTrusted(a netip.Addr) bool {
	for _, p := range c.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// parseHost reads the address of "host:port" (RemoteAddr) or a bare address; the zero Addr when
// it is neither, so such requests share one bucket.
func parseHost(s string) netip.Addr {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap()
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap()
	}
	return netip.Addr{}
}

func key(a netip.Addr) netip.Addr {
	if a.Is6() {
		p, _ := a.WithZone("").Prefix(64)
		return p.Addr()
	}
	return a
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
