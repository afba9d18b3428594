package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-voting-app/voting-app/platform/ballot"
	"github.com/go-voting-app/voting-app/testkit"
)

// clock is a settable time for the limiter: the tests move it instead of sleeping.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newClock() *clock { return &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func fromAddr(addr string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/", nil)
	r.RemoteAddr = addr
	return r
}

func TestLimiterTokenBucket(t *testing.T) {
	c := newClock()
	l := newClientLimiter(2, 3, clientAddrs{}, c.now) // 2 votes/s, 3 at once
	alice, bob := fromAddr("192.0.2.1:1000"), fromAddr("192.0.2.2:1000")

	for i := range 3 {
		if ok, _ := l.allow(alice); !ok {
			t.Fatalf("vote %d of a full bucket refused", i+1)
		}
	}
	ok, wait := l.allow(alice)
	if ok || wait != 500*time.Millisecond {
		t.Fatalf("fourth vote at once: allowed %v, wait %s; want refused, 500ms (one token at 2/s)", ok, wait)
	}
	if ok, _ := l.allow(bob); !ok {
		t.Fatal("another client was refused: buckets must be per client")
	}
	// Another port of the same address is the same client.
	if ok, _ := l.allow(fromAddr("192.0.2.1:2000")); ok {
		t.Fatal("the same address from another port got a bucket of its own")
	}

	c.advance(250 * time.Millisecond)
	if ok, wait := l.allow(alice); ok || wait != 250*time.Millisecond {
		t.Fatalf("after 250ms: allowed %v, wait %s; want refused, 250ms", ok, wait)
	}
	c.advance(250 * time.Millisecond)
	if ok, _ := l.allow(alice); !ok {
		t.Fatal("refused after waiting as long as told")
	}
	// A long pause refills up to the burst, never beyond.
	c.advance(time.Hour)
	for i := range 3 {
		if ok, _ := l.allow(alice); !ok {
			t.Fatalf("vote %d after an hour refused", i+1)
		}
	}
	if ok, _ := l.allow(alice); ok {
		t.Fatal("an hour of idling saved up more than the burst")
	}
}

func TestLimiterOffWhenRateIsZero(t *testing.T) {
	if l := newClientLimiter(0, 10, clientAddrs{}, time.Now); l != nil {
		t.Fatal("VOTE_RATE_LIMIT=0 gave a limiter")
	}
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	rec := httptest.NewRecorder()
	limitVotes(nil, nil, nil)(next).ServeHTTP(rec, fromAddr("192.0.2.1:1"))
	if rec.Code != http.StatusTeapot {
		t.Fatalf("without a limit the vote got %d", rec.Code)
	}
}

// Buckets that have refilled are forgotten, and no more than maxClients are ever kept.
func TestLimiterMemoryIsBounded(t *testing.T) {
	c := newClock()
	l := newClientLimiter(10, 20, clientAddrs{}, c.now) // refills in 2s
	addr := func(i int) *http.Request {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		return fromAddr(netip.AddrPortFrom(a, 1).String())
	}
	for i := range 1000 {
		l.allow(addr(i))
	}
	if n := l.clients(); n != 1000 {
		t.Fatalf("%d buckets after 1000 clients, want 1000", n)
	}
	c.advance(time.Second)
	l.allow(addr(0))
	if n := l.clients(); n != 1000 {
		t.Fatalf("%d buckets one second later, want 1000 (none has refilled yet)", n)
	}
	c.advance(1500 * time.Millisecond)
	l.allow(addr(5000))
	// Client 0 voted 1.5s ago and is kept; the others refilled and are gone, as is their state:
	// a refilled bucket and no bucket allow the same.
	if n := l.clients(); n != 2 {
		t.Fatalf("%d buckets after the others refilled, want 2", n)
	}

	// A flood from more addresses than maxClients within one refill time.
	for i := range maxClients + 500 {
		l.allow(addr(10_000 + i))
	}
	if n := l.clients(); n > maxClients {
		t.Fatalf("%d buckets, want at most %d", n, maxClients)
	}
}

func TestClientAddrs(t *testing.T) {
	proxied, err := parseClientAddrs("10.0.0.0/8, 192.0.2.7, fd00::/8", "X-Forwarded-For")
	if err != nil {
		t.Fatal(err)
	}
	realIP, err := parseClientAddrs("10.0.0.1", "X-Real-IP")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		addrs   clientAddrs
		remote  string
		headers map[string][]string
		want    string
	}{
		{"peer", clientAddrs{}, "198.51.100.4:5123", nil, "198.51.100.4"},
		{"header ignored without trusted proxies", clientAddrs{header: "X-Forwarded-For"}, "198.51.100.4:5123",
			map[string][]string{"X-Forwarded-For": {"203.0.113.9"}}, "198.51.100.4"},
		{"header ignored from an untrusted peer", proxied, "198.51.100.4:5123",
			map[string][]string{"X-Forwarded-For": {"203.0.113.9"}}, "198.51.100.4"},
		{"trusted proxy names the client", proxied, "10.1.2.3:40000",
			map[string][]string{"X-Forwarded-For": {"203.0.113.9"}}, "203.0.113.9"},
		{"forged entries left of the real client are not believed", proxied, "10.1.2.3:40000",
			map[string][]string{"X-Forwarded-For": {"1.1.1.1, 2.2.2.2, 203.0.113.9"}}, "203.0.113.9"},
		{"chain of trusted proxies", proxied, "10.1.2.3:40000",
			map[string][]string{"X-Forwarded-For": {"203.0.113.9, 192.0.2.7", "10.9.9.9"}}, "203.0.113.9"},
		{"garbage left of the client", proxied, "10.1.2.3:40000",
			map[string][]string{"X-Forwarded-For": {"<script>, 203.0.113.9"}}, "203.0.113.9"},
		{"garbage from the proxy: count the proxy", proxied, "10.1.2.3:40000",
			map[string][]string{"X-Forwarded-For": {"not an address"}}, "10.1.2.3"},
		{"no header from the proxy: count the proxy", proxied, "10.1.2.3:40000", nil, "10.1.2.3"},
		{"only trusted hops: the leftmost", proxied, "10.1.2.3:40000",
			map[string][]string{"X-Forwarded-For": {"10.0.0.5, 10.0.0.6"}}, "10.0.0.5"},
		{"IPv4 in IPv6", proxied, "[::ffff:10.1.2.3]:40000",
			map[string][]string{"X-Forwarded-For": {"::ffff:203.0.113.9"}}, "203.0.113.9"},
		{"IPv6 counts by /64", clientAddrs{}, "[2001:db8:1:2:aaaa:bbbb:cccc:dddd]:443", nil, "2001:db8:1:2::"},
		{"IPv6 with a zone", clientAddrs{}, "[fe80::1%eth0]:443", nil, "fe80::"},
		{"X-Real-IP", realIP, "10.0.0.1:1",
			map[string][]string{"X-Real-Ip": {"203.0.113.10"}}, "203.0.113.10"},
		{"unparsable peer", clientAddrs{}, "pipe", nil, "invalid IP"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/", nil)
			r.RemoteAddr = tt.remote
			for k, vs := range tt.headers {
				for _, v := range vs {
					r.Header.Add(k, v)
				}
			}
			if got := tt.addrs.of(r).String(); got != tt.want {
				t.Errorf("client %s, want %s", got, tt.want)
			}
		})
	}
}

func TestParseClientAddrsRejectsGarbage(t *testing.T) {
	_, err := parseClientAddrs("10.0.0.0/8, proxy.example, 300.1.1.1", "X-Forwarded-For")
	if err == nil || !strings.Contains(err.Error(), `"proxy.example"`) || !strings.Contains(err.Error(), `"300.1.1.1"`) {
		t.Fatalf("error %v, want both bad entries named", err)
	}
}

// A flood from one client gets 429 with Retry-After, on the form and on the API, and puts
// nothing on the stream; other clients vote on.
func TestVoteFloodIsLimited(t *testing.T) {
	url, prefix := testkit.Redis(t)
	c := newClock()
	ts := newLimitedTestServer(t, url, prefix+"votes", defaultOptions(t), newClientLimiter(1, 3, clientAddrs{}, c.now))
	const flooder, other = "198.51.100.7:5000", "198.51.100.8:5000"
	from := func(r *http.Request, addr string) *http.Request {
		r.RemoteAddr = addr
		return r
	}
	id := ballot.NewVoterID()
	for i := range 3 {
		if res, _ := ts.serve(t, from(formVote("vote=a", voterCookieOf(id)), flooder)); res.StatusCode != http.StatusSeeOther {
			t.Fatalf("vote %d within the burst = %d, want 303", i+1, res.StatusCode)
		}
	}

	res, body := ts.serve(t, from(formVote("vote=b", voterCookieOf(id)), flooder))
	if res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") != "1" {
		t.Fatalf("vote past the burst = %d, Retry-After %q; want 429, 1\n%s", res.StatusCode, res.Header.Get("Retry-After"), body)
	}
	if !strings.Contains(body, "Too many votes") || !strings.Contains(body, `href="/"`) ||
		res.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Errorf("429 page does not explain itself:\n%s", body)
	}
	if cookieNamed(res, choiceCookie) != nil {
		t.Error("a refused vote set the choice cookie")
	}

	res, body = ts.serve(t, from(apiVote(`{"vote":"b"}`, voterCookieOf(id)), flooder))
	var p struct {
		Status int    `json:"status"`
		Title  string `json:"title"`
		Detail string `json:"detail"`
	}
	if err := json.Unmarshal([]byte(body), &p); err != nil || res.StatusCode != http.StatusTooManyRequests ||
		res.Header.Get("Content-Type") != "application/problem+json" || p.Status != 429 || p.Detail == "" {
		t.Fatalf("API vote past the burst = %d %q %+v (%v)", res.StatusCode, res.Header.Get("Content-Type"), p, err)
	}
	if ra, err := strconv.Atoi(res.Header.Get("Retry-After")); err != nil || ra < 1 {
		t.Errorf("API 429 Retry-After %q, want whole seconds", res.Header.Get("Retry-After"))
	}

	// Another client is not held back by the flood; a cross-origin flood is limited before it is
	// judged, so it cannot tie up the service either.
	if res, _ := ts.serve(t, from(formVote("vote=b"), other)); res.StatusCode != http.StatusSeeOther {
		t.Errorf("another client's vote = %d, want 303", res.StatusCode)
	}
	cross := from(formVote("vote=a"), flooder)
	cross.Header.Set("Sec-Fetch-Site", "cross-site")
	if res, _ := ts.serve(t, cross); res.StatusCode != http.StatusTooManyRequests {
		t.Errorf("cross-origin vote from the flooder = %d, want 429", res.StatusCode)
	}
	// The ballot page is not a vote: never limited.
	if res, _ := ts.serve(t, from(httptest.NewRequest(http.MethodGet, "/", nil), flooder)); res.StatusCode != http.StatusOK {
		t.Errorf("ballot page for the flooder = %d, want 200", res.StatusCode)
	}

	if n := len(ts.entries(t)); n != 4 {
		t.Errorf("stream has %d entries, want 4: three of the flooder's and one of the other client's", n)
	}
	if got := ts.failures(reasonRateLimited); got != 3 {
		t.Errorf("vote_failures_total{reason=rate_limited} = %v, want 3", got)
	}

	// Waiting as told lets the next vote through.
	c.advance(time.Second)
	if res, _ := ts.serve(t, from(formVote("vote=b", voterCookieOf(id)), flooder)); res.StatusCode != http.StatusSeeOther {
		t.Errorf("vote after Retry-After = %d, want 303", res.StatusCode)
	}
}

// A client cannot slip past the limit by naming another address in X-Forwarded-For unless it is a
// trusted proxy.
func TestVoteLimitIgnoresForgedForwardedFor(t *testing.T) {
	url, prefix := testkit.Redis(t)
	addrs, err := parseClientAddrs("10.0.0.0/8", "X-Forwarded-For")
	if err != nil {
		t.Fatal(err)
	}
	ts := newLimitedTestServer(t, url, prefix+"votes", defaultOptions(t), newClientLimiter(1, 2, addrs, newClock().now))
	vote := func(remote, forwarded string) int {
		r := formVote("vote=a")
		r.RemoteAddr = remote
		r.Header.Set("X-Forwarded-For", forwarded)
		res, _ := ts.serve(t, r)
		return res.StatusCode
	}
	for i := range 5 {
		want := http.StatusSeeOther
		if i >= 2 {
			want = http.StatusTooManyRequests
		}
		if got := vote("198.51.100.7:1", "203.0.113."+strconv.Itoa(i)); got != want {
			t.Errorf("untrusted vote %d naming a new address = %d, want %d", i+1, got, want)
		}
	}
	// Through the trusted proxy, each named client has its own allowance.
	for i := range 5 {
		if got := vote("10.0.0.2:1", "203.0.113."+strconv.Itoa(100+i)); got != http.StatusSeeOther {
			t.Errorf("proxied vote for client %d = %d, want 303", i+1, got)
		}
	}
}

// Whatever a client sends, the address it is counted under is its peer's, or one named in the
// header when the peer is a trusted proxy; nothing panics.
func FuzzClientAddrs(f *testing.F) {
	for _, seed := range []struct{ remote, forwarded string }{
		{"198.51.100.4:5123", ""},
		{"10.1.2.3:40000", "203.0.113.9"},
		{"10.1.2.3:40000", "1.1.1.1, 2.2.2.2, 203.0.113.9"},
		{"10.1.2.3:40000", "10.0.0.5, 10.0.0.6"},
		{"10.1.2.3:40000", "<script>, ::ffff:203.0.113.9"},
		{"[fd00::1]:1", "2001:db8::1%eth0, fd00::2"},
		{"[::ffff:10.0.0.1]:1", ",,,"},
		{"pipe", "203.0.113.9"},
		{"", ""},
	} {
		f.Add(seed.remote, seed.forwarded)
	}
	addrs, err := parseClientAddrs("10.0.0.0/8, fd00::/8", "X-Forwarded-For")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, remote, forwarded string) {
		r := httptest.NewRequest(http.MethodPost, "/", nil)
		r.RemoteAddr = remote
		r.Header.Set("X-Forwarded-For", forwarded)
		got := addrs.of(r)

		peer := parseHost(remote)
		if !addrs.isTrusted(peer) {
			if got != key(peer) {
				t.Fatalf("untrusted peer %q counted as %s", remote, got)
			}
			return
		}
		candidates := []netip.Addr{key(peer)}
		for hop := range strings.SplitSeq(forwarded, ",") {
			if a, err := netip.ParseAddr(strings.TrimSpace(hop)); err == nil {
				candidates = append(candidates, key(a.Unmap()))
			}
		}
		for _, c := range candidates {
			if got == c {
				return
			}
		}
		t.Fatalf("peer %q with X-Forwarded-For %q counted as %s, which neither names", remote, forwarded, got)
	})
}
