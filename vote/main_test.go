package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-voting-app/voting-app/platform/ballot"
	"github.com/go-voting-app/voting-app/platform/queue"
	"github.com/go-voting-app/voting-app/platform/web"
	"github.com/go-voting-app/voting-app/testkit"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// testServer is the real router wired to a real Redis, as run wires it.
type testServer struct {
	http.Handler
	rdb     *redis.Client
	stream  string
	metrics *metrics
}

// newTestServer serves the default ballot from the shared test Redis, on a stream of its own.
func newTestServer(t testing.TB) *testServer {
	t.Helper()
	url, prefix := testkit.Redis(t)
	return newTestServerWith(t, url, prefix+"votes", defaultOptions(t))
}

func newTestServerWith(t testing.TB, redisURL, stream string, opts ballot.Options) *testServer {
	t.Helper()
	return newLimitedTestServer(t, redisURL, stream, opts, nil)
}

// newLimitedTestServer is newTestServerWith with a vote limit (nil for none).
func newLimitedTestServer(t testing.TB, redisURL, stream string, opts ballot.Options, limiter *clientLimiter) *testServer {
	t.Helper()
	rdb, err := queue.Open(queue.Config{URL: redisURL, Stream: stream}, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rdb.Close() })
	reg := prometheus.NewRegistry()
	m := newMetrics(reg, opts)
	box := &ballotBox{inbox: queue.NewInbox(rdb, stream), timeout: time.Second, metrics: m}
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	if _, ok := t.(*testing.T); ok {
		log = slog.New(slog.NewJSONHandler(t.Output(), nil))
	}
	m.watch(reg, limiter)
	h := newServer(log, web.NewMetrics(reg), m, opts, box, cookiePolicy{}, limiter, "vote-test-host")
	return &testServer{Handler: h, rdb: rdb, stream: stream, metrics: m}
}

func defaultOptions(t testing.TB) ballot.Options {
	t.Helper()
	opts, err := ballot.NewOptions(ballot.DefaultLabelA, ballot.DefaultLabelB)
	if err != nil {
		t.Fatal(err)
	}
	return opts
}

// serve sends req through the router and returns the response with its body read.
func (ts *testServer) serve(t testing.TB, req *http.Request) (*http.Response, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	ts.ServeHTTP(rec, req)
	res := rec.Result()
	body, _ := io.ReadAll(res.Body)
	return res, string(body)
}

// entries returns everything on the test's stream.
// inbox returns the votes on the inbox, as the vote service wrote them.
func (ts *testServer) inbox(t testing.TB) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	raw, err := ts.rdb.LRange(ctx, queue.InboxKey(ts.stream), 0, -1).Result()
	if err != nil {
		t.Fatalf("read the inbox: %v", err)
	}
	return raw
}

// entries returns the votes on the inbox as the stream entries a worker will make of them: the
// fields voter, vote and ts of each (an object with any other field fails the test), and an ID
// from its cast time.
func (ts *testServer) entries(t testing.TB) []redis.XMessage {
	t.Helper()
	var out []redis.XMessage
	for i, raw := range ts.inbox(t) {
		var c map[string]any
		if err := json.Unmarshal([]byte(raw), &c); err != nil || len(c) != 3 {
			t.Fatalf("inbox entry %q: %v; want an object of voter, vote and ts", raw, err)
		}
		at, _ := c[queue.FieldCastAt].(float64)
		c[queue.FieldCastAt] = strconv.FormatInt(int64(at), 10)
		out = append(out, redis.XMessage{ID: fmt.Sprintf("%d-%d", int64(at), i), Values: c})
	}
	return out
}

func (ts *testServer) failures(reason string) float64 {
	return testutil.ToFloat64(ts.metrics.failures.WithLabelValues(reason))
}

// formVote is a vote as a browser posts it from the ballot page.
func formVote(body string, cookies ...*http.Cookie) *http.Request {
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	req.Header.Set("Origin", "http://example.com")
	for _, c := range cookies {
		req.AddCookie(c)
	}
	return req
}

// apiVote is a vote from a program: no browser headers.
func apiVote(body string, cookies ...*http.Cookie) *http.Request {
	req := httptest.NewRequest(http.MethodPost, "/api/v1/votes", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for _, c := range cookies {
		req.AddCookie(c)
	}
	return req
}

// cookieNamed returns the cookie the response sets with that name, or nil.
func cookieNamed(res *http.Response, name string) *http.Cookie {
	for _, c := range res.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func voterCookieOf(id ballot.VoterID) *http.Cookie {
	return &http.Cookie{Name: voterCookie, Value: string(id)}
}

func testutilCount(ts *testServer, option string) float64 {
	return testutil.ToFloat64(ts.metrics.votes.WithLabelValues(option))
}
