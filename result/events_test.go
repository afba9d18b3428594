package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-voting-app/voting-app/platform/ballot"
	"github.com/go-voting-app/voting-app/platform/web"
	"github.com/go-voting-app/voting-app/testkit"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestEventsCurrentTallyThenChanges(t *testing.T) {
	t.Parallel()
	url := testkit.Postgres(t)
	db := migratedDB(t, url)
	vote(t, db, "v1", "a")
	vote(t, db, "v2", "a")
	vote(t, db, "v3", "b")
	s := startStack(t, url, defaultStackConfig())
	s.waitReady(t)

	c := connectSSE(t, s.srv.Client(), s.srv.URL, nil)
	if h := c.resp.Header; h.Get("Cache-Control") != "no-cache" || h.Get("X-Accel-Buffering") != "no" {
		t.Errorf("headers %v", h)
	}
	if r := <-c.retry; r < s.cfgRetry() || r > 2*s.cfgRetry() {
		t.Errorf("retry %s outside [%s, %s]", r, s.cfgRetry(), 2*s.cfgRetry())
	}
	first := c.next(t)
	if got := first.Results; got.Total != 3 || got.Summary != "3 votes" ||
		got.Options[0].Label != "Tea" || got.Options[0].Votes != 2 || got.Options[0].Percent != 67 ||
		got.Options[1].Label != "Coffee" || got.Options[1].Votes != 1 || got.Options[1].Percent != 33 {
		t.Fatalf("first event %+v", got)
	}
	if first.ID == "" {
		t.Fatal("event without id")
	}

	vote(t, db, "v4", "b") // insert
	if got := c.next(t).Results; got.Total != 4 || got.Options[0].Percent != 50 || got.Options[1].Percent != 50 {
		t.Fatalf("after a new vote: %+v", got)
	}
	vote(t, db, "v1", "b") // a voter changes their mind: the total stays, the split moves
	got := c.next(t).Results
	if got.Total != 4 || got.Options[0].Votes != 1 || got.Options[1].Votes != 3 {
		t.Fatalf("after a changed vote: %+v", got)
	}
}

func (s *stack) cfgRetry() time.Duration { return defaultStackConfig().stream.Retry }

// However many browsers watch, one committed change costs one query per instance.
func TestEventsFanOutOneQueryPerChange(t *testing.T) {
	t.Parallel()
	url := testkit.Postgres(t)
	db := migratedDB(t, url)
	vote(t, db, "v1", "a")
	s := startStack(t, url, defaultStackConfig())
	s.waitReady(t)

	const n = 200
	clients := make([]*sseClient, n)
	for i := range clients {
		clients[i] = connectSSE(t, s.srv.Client(), s.srv.URL, nil)
	}
	for _, c := range clients {
		c.waitTotal(t, 1)
	}
	if got := testutil.ToFloat64(s.metrics.clients); got != n {
		t.Fatalf("clients gauge %v, want %d", got, n)
	}

	before := s.queries()
	vote(t, db, "v2", "b")
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Go(func() { c.waitTotal(t, 2) })
	}
	wg.Wait()
	after := s.queries()
	if d := after[triggerNotify] - before[triggerNotify]; d != 1 {
		t.Fatalf("%v notify-triggered queries for one change and %d browsers, want 1 (before %v, after %v)", d, n, before, after)
	}
	if s.totalQueries() != sum(before)+1 {
		t.Fatalf("queries before %v, after %v: want exactly one more", before, after)
	}
	// The counter follows each write's flush, so it can trail what the browsers already have.
	testkit.Eventually(t, 5*time.Second, fmt.Sprintf("events sent to reach %d", 2*n), func() bool {
		return testutil.ToFloat64(s.metrics.eventsSent) >= 2*n
	})
	if got := testutil.ToFloat64(s.metrics.eventsSent); got != 2*n {
		t.Fatalf("events sent %v, want %d", got, 2*n)
	}
}

func sum(m map[string]float64) float64 {
	var n float64
	for _, v := range m {
		n += v
	}
	return n
}

// A browser that stops reading must not hold up anyone else. The slow client sends its request and
// never reads a byte; its connection has small buffers on both ends, so the server's writes to it
// block after a few events, while thousands of tallies are published. Publishing must finish at
// once, the fast client must see the last tally, and the slow one, reading at last, gets the
// newest tally among what it was sent (it skipped the ones it was too slow for).
func TestEventsSlowClientDoesNotBlockOthers(t *testing.T) {
	t.Parallel()
	cfg := defaultStackConfig()
	cfg.stream.WriteTimeout = time.Minute // the slow client is not dropped during the test
	cfg.sendBuffer = 4096
	s := newStack(t, cfg)
	s.broker.Publish(ballot.NewTally(s.opts, map[string]int64{"a": 0}))

	raddr, err := net.ResolveTCPAddr("tcp", strings.TrimPrefix(s.srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	slow, err := net.DialTCP("tcp", nil, raddr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { slow.Close() })
	if err := slow.SetReadBuffer(4096); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(slow, "GET /events HTTP/1.1\r\nHost: test\r\n\r\n")
	testkit.Eventually(t, 10*time.Second, "slow client connected", func() bool {
		return testutil.ToFloat64(s.metrics.clients) == 1
	})
	fast := connectSSE(t, s.srv.Client(), s.srv.URL, nil)
	fast.waitTotal(t, 0)

	// About 150 bytes an event: 3,000 of them are far more than the slow connection's buffers.
	const n = 3000
	published := make(chan struct{})
	go func() {
		defer close(published)
		for i := 1; i <= n; i++ {
			s.broker.Publish(ballot.NewTally(s.opts, map[string]int64{"a": int64(i)}))
		}
	}()
	select {
	case <-published:
	case <-time.After(20 * time.Second):
		t.Fatal("publishing is held up by a client that does not read")
	}
	fast.waitTotal(t, n)
	if testutil.ToFloat64(s.metrics.updatesDropped) == 0 {
		t.Fatal("no tally was skipped for anyone: the slow client kept up, so the test proves nothing")
	}

	// The slow client, reading at last, is handed the current tally among what it was sent.
	br := bufio.NewReader(slow)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("slow client: %v %v", resp, err)
	}
	var last string
	events := bufio.NewReader(resp.Body)
	for !strings.Contains(last, fmt.Sprintf(`"total":%d`, n)) {
		m, err := readMessage(events)
		if err != nil {
			t.Fatalf("slow client stream: %v", err)
		}
		last = m.Data
	}
}

// A browser that reconnects, with Last-Event-ID as EventSource sends it, is brought up to date
// at once, without waiting for the next change.
func TestEventsReconnectGetsCurrentTally(t *testing.T) {
	t.Parallel()
	url := testkit.Postgres(t)
	db := migratedDB(t, url)
	vote(t, db, "v1", "a")
	s := startStack(t, url, defaultStackConfig())
	s.waitReady(t)

	c := connectSSE(t, s.srv.Client(), s.srv.URL, nil)
	seen := c.waitTotal(t, 1)
	c.close()

	vote(t, db, "v2", "b") // missed while away
	testkit.Eventually(t, 10*time.Second, "the change reached the broker", func() bool {
		return s.broker.Latest().Tally.Total == 2
	})
	queries := s.totalQueries()

	again := connectSSE(t, s.srv.Client(), s.srv.URL, http.Header{"Last-Event-ID": {seen.ID}})
	first := again.next(t)
	if first.Results.Total != 2 || first.ID == seen.ID {
		t.Fatalf("after reconnecting with Last-Event-ID %s: got %+v", seen.ID, first)
	}
	// Coming back with the newest id still gets the tally: the page may be older than the id.
	third := connectSSE(t, s.srv.Client(), s.srv.URL, http.Header{"Last-Event-ID": {first.ID}})
	if got := third.next(t); got.ID != first.ID || got.Results.Total != 2 {
		t.Fatalf("reconnect with the current id: %+v", got)
	}
	if s.totalQueries() != queries {
		t.Fatal("a reconnecting browser caused a query")
	}
}

func TestEventsStreamLimit(t *testing.T) {
	t.Parallel()
	cfg := defaultStackConfig()
	cfg.maxStreams = 2
	s := newStack(t, cfg)
	a := connectSSE(t, s.srv.Client(), s.srv.URL, nil)
	connectSSE(t, s.srv.Client(), s.srv.URL, nil)

	resp, body := get(t, s.srv.URL+"/events", nil)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("third stream: %s, Retry-After %q", resp.Status, resp.Header.Get("Retry-After"))
	}
	if !strings.Contains(body, "limit of live result streams") {
		t.Fatalf("body %q", body)
	}
	if got := testutil.ToFloat64(s.metrics.rejected); got != 1 {
		t.Fatalf("rejected %v", got)
	}

	a.close()
	testkit.Eventually(t, 10*time.Second, "the closed stream to free its slot", func() bool {
		return testutil.ToFloat64(s.metrics.clients) == 1
	})
	connectSSE(t, s.srv.Client(), s.srv.URL, nil)
}

// Closing the broker (the server's shutdown hook) ends every open stream.
func TestEventsEndOnShutdown(t *testing.T) {
	t.Parallel()
	s := newStack(t, defaultStackConfig())
	c := connectSSE(t, s.srv.Client(), s.srv.URL, nil)
	testkit.Eventually(t, 10*time.Second, "stream open", func() bool { return testutil.ToFloat64(s.metrics.clients) == 1 })
	s.broker.Close()
	<-c.closed
	testkit.Eventually(t, 10*time.Second, "stream released", func() bool { return testutil.ToFloat64(s.metrics.clients) == 0 })
}

// Replicas need no sticky sessions: each listens and queries on its own, and they name the same
// tally with the same event id, so a browser can move from one to the other.
func TestEventsAcrossReplicas(t *testing.T) {
	t.Parallel()
	url := testkit.Postgres(t)
	db := migratedDB(t, url)
	vote(t, db, "v1", "a")
	one := startStack(t, url, defaultStackConfig())
	two := startStack(t, url, defaultStackConfig())
	one.waitReady(t)
	two.waitReady(t)

	c := connectSSE(t, one.srv.Client(), one.srv.URL, nil)
	seen := c.waitTotal(t, 1)
	c.close()
	moved := connectSSE(t, two.srv.Client(), two.srv.URL, http.Header{"Last-Event-ID": {seen.ID}})
	if got := moved.next(t); got.ID != seen.ID || got.Results.Total != 1 {
		t.Fatalf("the other replica sent %+v for the tally %s", got, seen.ID)
	}

	stay := connectSSE(t, one.srv.Client(), one.srv.URL, nil)
	stay.waitTotal(t, 1)
	vote(t, db, "v2", "b")
	a, b := stay.waitTotal(t, 2), moved.waitTotal(t, 2)
	if a.ID != b.ID {
		t.Fatalf("replicas name one tally differently: %s and %s", a.ID, b.ID)
	}
	for name, s := range map[string]*stack{"one": one, "two": two} {
		if q := s.queries(); q[triggerNotify] != 1 {
			t.Errorf("replica %s: queries %v, want one for the change", name, q)
		}
	}
}

// One client cannot hold every stream of an instance: beyond SSE_MAX_STREAMS_PER_CLIENT it gets
// 429 with Retry-After, while other clients still connect; the instance's own limit stays, a 503.
// Behind a trusted proxy the client is the address the proxy names.
func TestEventsPerClientLimit(t *testing.T) {
	t.Parallel()
	cfg := defaultStackConfig()
	cfg.maxStreams, cfg.perClient = 6, 3
	addrs, err := web.ParseClientAddrs("127.0.0.1", "X-Forwarded-For")
	if err != nil {
		t.Fatal(err)
	}
	cfg.stream.Clients = addrs
	s := newStack(t, cfg)
	s.broker.Publish(ballot.NewTally(s.opts, map[string]int64{"a": 1}))
	from := func(client string) http.Header { return http.Header{"X-Forwarded-For": {client}} }
	open := func(client string) (*http.Response, func()) {
		req, _ := http.NewRequest(http.MethodGet, s.srv.URL+"/events", nil)
		req.Header = from(client)
		resp, err := s.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp, func() { resp.Body.Close() }
	}
	var hogs []func()
	for range 3 {
		resp, closeIt := open("203.0.113.1")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("stream of the first client: %s", resp.Status)
		}
		hogs = append(hogs, closeIt)
	}
	refused, closeIt := open("203.0.113.1")
	if refused.StatusCode == http.StatusOK {
		closeIt()
		t.Fatal("a fourth stream of one client was opened")
	}
	body, _ := io.ReadAll(refused.Body)
	closeIt()
	if refused.StatusCode != http.StatusTooManyRequests || refused.Header.Get("Retry-After") != "10" ||
		refused.Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("a fourth stream of one client: %s %v %s; want 429 with Retry-After", refused.Status, refused.Header, body)
	}
	if n := testutil.ToFloat64(s.metrics.clientLimited); n != 1 {
		t.Errorf("result_sse_client_limited_total = %v", n)
	}
	// Another client still gets a stream, up to the instance's limit.
	for i := range 3 {
		resp, closeIt := open(fmt.Sprintf("203.0.113.%d", 2+i))
		defer closeIt()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("stream of another client: %s", resp.Status)
		}
	}
	if full, closeIt := open("203.0.113.9"); full.StatusCode != http.StatusServiceUnavailable {
		closeIt()
		t.Fatalf("a stream beyond the instance's limit: %s, want 503", full.Status)
	} else {
		closeIt()
	}
	// A closed stream gives its client room again.
	hogs[0]()
	testkit.Until(t, 10*time.Second, "the first client's closed stream to be counted out", func() error {
		resp, closeIt := open("203.0.113.1")
		defer closeIt()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s", resp.Status)
		}
		return nil
	})
	for _, h := range hogs[1:] {
		h()
	}
}
