package main

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/netip"
	neturl "net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-voting-app/voting-app/platform/ballot"
	"github.com/go-voting-app/voting-app/platform/web"
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
	l := newClientLimiter(2, 3, web.ClientAddrs{}, c.now) // 2 votes/s, 3 at once
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
	if l := newClientLimiter(0, 10, web.ClientAddrs{}, time.Now); l != nil {
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
	l := newClientLimiter(10, 20, web.ClientAddrs{}, c.now) // refills in 2s
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

// A flood from one client gets 429 with Retry-After, on the form and on the API, and puts
// nothing on the stream; other clients vote on.
func TestVoteFloodIsLimited(t *testing.T) {
	url, prefix := testkit.Redis(t)
	c := newClock()
	ts := newLimitedTestServer(t, url, prefix+"votes", defaultOptions(t), newClientLimiter(1, 3, web.ClientAddrs{}, c.now))
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
	addrs, err := web.ParseClientAddrs("10.0.0.0/8", "X-Forwarded-For")
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

// Behind a real reverse proxy (net/http/httputil, which appends the client's address to
// X-Forwarded-For as ingress-nginx and most proxies do) and with TRUSTED_PROXIES naming it, each
// client has its own allowance: one flooding gets 429 while another, behind the same proxy, votes
// on; and a client naming another's address in its own X-Forwarded-For cannot use that one's.
// Clients are told apart by their loopback source addresses.
func TestVoteLimitPerClientThroughAProxy(t *testing.T) {
	url, prefix := testkit.Redis(t)
	addrs, err := web.ParseClientAddrs("127.0.0.1", "X-Forwarded-For")
	if err != nil {
		t.Fatal(err)
	}
	ts := newLimitedTestServer(t, url, prefix+"votes", defaultOptions(t), newClientLimiter(1, 3, addrs, newClock().now))
	backend := httptest.NewServer(ts)
	defer backend.Close()
	target, _ := neturl.Parse(backend.URL)
	proxy := httptest.NewServer(httputil.NewSingleHostReverseProxy(target))
	defer proxy.Close()

	// A client on its own loopback address, as a browser on its own host.
	client := func(source string) *http.Client {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(source)}}
		return &http.Client{
			Transport:     &http.Transport{DialContext: d.DialContext},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	vote := func(c *http.Client, forwarded string) int {
		req, _ := http.NewRequest(http.MethodPost, proxy.URL+"/", strings.NewReader("vote=a"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if forwarded != "" {
			req.Header.Set("X-Forwarded-For", forwarded)
		}
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode
	}
	flooder, other := client("127.0.0.2"), client("127.0.0.3")
	for i := range 6 {
		want := http.StatusSeeOther
		if i >= 3 {
			want = http.StatusTooManyRequests
		}
		if got := vote(flooder, ""); got != want {
			t.Fatalf("flooder's vote %d through the proxy = %d, want %d", i+1, got, want)
		}
	}
	if got := vote(flooder, "127.0.0.3"); got != http.StatusTooManyRequests {
		t.Errorf("flooder naming the other client's address = %d, want 429", got)
	}
	for i := range 3 {
		if got := vote(other, ""); got != http.StatusSeeOther {
			t.Errorf("the other client's vote %d behind the same proxy = %d, want 303", i+1, got)
		}
	}
}
