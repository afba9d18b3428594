package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-voting-app/voting-app/platform/ballot"
	"github.com/go-voting-app/voting-app/platform/postgres"
	"github.com/go-voting-app/voting-app/platform/postgres/migrations"
	"github.com/go-voting-app/voting-app/platform/web"
	"github.com/go-voting-app/voting-app/testkit"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestMain(m *testing.M) {
	// The benchmarks run this binary again to play the browsers (bench_test.go).
	if base := os.Getenv(envStreamsOf); base != "" {
		n, _ := strconv.Atoi(os.Getenv(envStreamsCount))
		os.Exit(runStreams(base, n, os.Stdout))
	}
	testkit.Main(m)
}

func quietLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

func testOptions(t testing.TB) ballot.Options {
	t.Helper()
	opts, err := ballot.NewOptions("Tea", "Coffee")
	if err != nil {
		t.Fatal(err)
	}
	return opts
}

// stack is the service without run(): feed, broker and router on an httptest server, with
// intervals short enough for tests and no periodic re-check unless a test asks for one.
type stack struct {
	opts    ballot.Options
	metrics *metrics
	broker  *broker
	feed    *feed
	srv     *httptest.Server
	ui      *ui
}

type stackConfig struct {
	feed       feedConfig
	stream     streamConfig
	maxStreams int
	perClient  int // streams per client address; 0 for no limit
	log        *slog.Logger
	// sendBuffer, when set, is the kernel send buffer of every connection the server accepts:
	// small, so that a client which stops reading blocks the server's writes within a few events.
	sendBuffer int
}

func defaultStackConfig() stackConfig {
	return stackConfig{
		feed: feedConfig{
			MinInterval:  20 * time.Millisecond,
			Recheck:      time.Hour,
			SchemaPoll:   20 * time.Millisecond,
			QueryTimeout: 5 * time.Second,
			BackoffMin:   20 * time.Millisecond,
			BackoffMax:   200 * time.Millisecond,
		},
		stream:     streamConfig{Heartbeat: time.Minute, WriteTimeout: 5 * time.Second, Retry: time.Second},
		maxStreams: 1000,
		log:        quietLog(),
	}
}

// newStack serves the router without a database behind it: tests publish tallies themselves.
func newStack(t testing.TB, cfg stackConfig) *stack {
	t.Helper()
	reg := prometheus.NewRegistry()
	m := newMetrics(reg)
	b := newBroker(cfg.maxStreams, cfg.perClient, m)
	u, err := loadUI()
	if err != nil {
		t.Fatal(err)
	}
	opts := testOptions(t)
	srv := httptest.NewUnstartedServer(newServer(cfg.log, web.NewMetrics(reg), m, opts, b, u, cfg.stream))
	if cfg.sendBuffer > 0 {
		srv.Listener = smallSendBuffers{srv.Listener.(*net.TCPListener), cfg.sendBuffer}
	}
	srv.Start()
	// Cleanups run last-in first-out: the broker ends the streams, then the server can close.
	t.Cleanup(srv.Close)
	t.Cleanup(b.Close)
	return &stack{opts: opts, metrics: m, broker: b, srv: srv, ui: u}
}

// startStack adds a running feed on the database at dbURL.
func startStack(t testing.TB, dbURL string, cfg stackConfig) *stack {
	t.Helper()
	s := newStack(t, cfg)
	cc, err := pgx.ParseConfig(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	s.feed = newFeed(cfg.log, cc, s.opts, s.broker, s.metrics, cfg.feed)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.feed.Run(ctx)
	}()
	t.Cleanup(func() { cancel(); <-done })
	return s
}

// waitReady polls the feed until it serves a tally.
func (s *stack) waitReady(t testing.TB) {
	t.Helper()
	testkit.Eventually(t, 30*time.Second, "feed ready", func() bool { return s.feed.Ready(context.Background()) == nil })
}

func (s *stack) queries() map[string]float64 {
	q := map[string]float64{}
	for _, tr := range []string{triggerNotify, triggerRecheck, triggerConnect} {
		q[tr] = testutil.ToFloat64(s.metrics.queries.WithLabelValues(tr))
	}
	return q
}

func (s *stack) totalQueries() float64 {
	var n float64
	for _, v := range s.queries() {
		n += v
	}
	return n
}

// migratedDB returns a pool on a new, migrated test database.
func migratedDB(t testing.TB, url string) *pgxpool.Pool {
	t.Helper()
	pool := openPool(t, url)
	if err := migrations.Up(context.Background(), pool, quietLog()); err != nil {
		t.Fatal(err)
	}
	return pool
}

func openPool(t testing.TB, url string) *pgxpool.Pool {
	t.Helper()
	pool, err := postgres.Open(context.Background(), postgres.Config{URL: url, AppName: "result-test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// vote stores a vote with plain SQL, as the worker would; the triggers update vote_totals and
// NOTIFY on commit.
func vote(t testing.TB, db *pgxpool.Pool, voter, option string) {
	t.Helper()
	_, err := db.Exec(context.Background(),
		`INSERT INTO votes (id, vote) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET vote = EXCLUDED.vote`, voter, option)
	if err != nil {
		t.Fatal(err)
	}
}

// sseMessage is one parsed block of an event stream.
type sseMessage struct {
	ID, Name, Data string
	Retry          time.Duration
	Comment        string
}

// readMessage reads up to the next blank line, as a browser's EventSource parser would.
func readMessage(r *bufio.Reader) (sseMessage, error) {
	var m sseMessage
	var data []string
	seen := false
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return m, err
		}
		line = strings.TrimSuffix(line, "\n")
		if line == "" {
			if !seen {
				continue
			}
			m.Data = strings.Join(data, "\n")
			return m, nil
		}
		seen = true
		name, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch name {
		case "":
			m.Comment = value
		case "id":
			m.ID = value
		case "event":
			m.Name = value
		case "data":
			data = append(data, value)
		case "retry":
			ms, err := strconv.Atoi(value)
			if err != nil {
				return m, err
			}
			m.Retry = time.Duration(ms) * time.Millisecond
		}
	}
}

// sseClient is a browser's EventSource, reduced to what the tests look at.
type sseClient struct {
	resp   *http.Response
	tally  chan tallyEvent
	retry  chan time.Duration
	closed chan struct{}
}

type tallyEvent struct {
	ID      string
	Results results
}

// connectSSE opens /events and starts reading it. header may carry Last-Event-ID.
func connectSSE(t testing.TB, client *http.Client, baseURL string, header http.Header) *sseClient {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, baseURL+"/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Fatalf("GET /events: %s %s", resp.Status, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	c := &sseClient{resp: resp, tally: make(chan tallyEvent, 64), retry: make(chan time.Duration, 1), closed: make(chan struct{})}
	t.Cleanup(func() { resp.Body.Close() })
	go func() {
		defer close(c.closed)
		br := bufio.NewReader(resp.Body)
		for {
			m, err := readMessage(br)
			if err != nil {
				return
			}
			switch {
			case m.Retry > 0:
				c.retry <- m.Retry
			case m.Name == "tally":
				var r results
				if err := json.Unmarshal([]byte(m.Data), &r); err != nil {
					panic(err)
				}
				c.tally <- tallyEvent{ID: m.ID, Results: r}
			}
		}
	}()
	return c
}

// next returns the next tally event.
func (c *sseClient) next(t testing.TB) tallyEvent {
	t.Helper()
	select {
	case e := <-c.tally:
		return e
	case <-c.closed:
		t.Fatal("stream ended")
	case <-time.After(30 * time.Second):
		t.Fatal("no tally event within 30s")
	}
	return tallyEvent{}
}

// waitTotal reads tally events until one has the given total.
func (c *sseClient) waitTotal(t testing.TB, total int64) tallyEvent {
	t.Helper()
	for {
		if e := c.next(t); e.Results.Total == total {
			return e
		}
	}
}

// close ends the stream from the client side, as a browser leaving the page does.
func (c *sseClient) close() { c.resp.Body.Close() }

// quietLogTo logs JSON at debug level into w, for tests that read the log.
func quietLogTo(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// smallSendBuffers gives every accepted connection a send buffer of the given size.
type smallSendBuffers struct {
	*net.TCPListener
	size int
}

func (l smallSendBuffers) Accept() (net.Conn, error) {
	c, err := l.TCPListener.AcceptTCP()
	if err != nil {
		return nil, err
	}
	return c, c.SetWriteBuffer(l.size)
}
