package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/go-voting-app/voting-app/testkit"
)

// Every answer comes from data kept incrementally (totals, the 10-second rollup, the changers
// table), never from a scan of the history: the analyzer's role, stripped of its right to read
// vote_history, still answers every endpoint, with the widest windows allowed.
func TestAnswersNeverScanTheHistory(t *testing.T) {
	a := newAnalyzer(t, setup{})
	seed(a, "0123456789abcdef0123456789abcdef")
	role := a.reader.Config().ConnConfig.User
	if _, err := a.owner.Exec(context.Background(), `REVOKE SELECT ON vote_history FROM "`+role+`"`); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{
		"/api/v1/summary",
		"/api/v1/timeline",
		"/api/v1/timeline?bucket=10s&from=" + a.now.Add(-2*time.Hour).Format(time.RFC3339) + "&to=" + a.now.Format(time.RFC3339),
		"/api/v1/timeline?bucket=168h&from=" + a.now.Add(-maxSpan).Format(time.RFC3339) + "&to=" + a.now.Format(time.RFC3339),
		"/api/v1/momentum?window=168h",
		"/api/v1/anomalies?window=168h&bucket=1h",
		"/api/v1/insight",
	} {
		if resp, body := a.get(path); resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s without access to vote_history: %d %s", path, resp.StatusCode, body)
		}
	}
}

// Windows and ranges are capped, and buckets are whole intervals of the rollup, so no parameters
// can make a request expensive.
func TestAnswerParametersAreBounded(t *testing.T) {
	a := newAnalyzer(t, setup{})
	week := a.now.Add(-maxSpan)
	tests := []struct {
		path, param string
	}{
		{"/api/v1/momentum?window=169h", "window"},
		{"/api/v1/anomalies?window=200h", "window"},
		{"/api/v1/timeline?bucket=1h&from=" + week.Add(-time.Hour).Format(time.RFC3339), "from"},
		{"/api/v1/timeline?bucket=15s", "bucket"},
		{"/api/v1/timeline?bucket=1s", "bucket"},
		{"/api/v1/anomalies?bucket=25s", "bucket"},
	}
	for _, tt := range tests {
		p := a.wantProblem(tt.path, http.StatusBadRequest)
		if len(p.Errors) == 0 || p.Errors[0].Parameter != tt.param {
			t.Errorf("GET %s: %+v, want an error about %s", tt.path, p, tt.param)
		}
	}
	if resp, body := a.get("/api/v1/timeline?bucket=1h&from=" + week.Format(time.RFC3339)); resp.StatusCode != http.StatusOK {
		t.Errorf("a week, the most allowed: %d %s", resp.StatusCode, body)
	}
}

// An answer carries an ETag naming the data's version: a client that has it gets 304 until a vote
// changes the data, and a repeated question is answered from memory.
func TestAnswersRevalidateWithETags(t *testing.T) {
	a := newAnalyzer(t, setup{})
	seed(a)
	resp, _ := a.get("/api/v1/summary")
	etag := resp.Header.Get("ETag")
	if resp.StatusCode != http.StatusOK || etag == "" || resp.Header.Get("Cache-Control") != "no-cache" {
		t.Fatalf("first answer: %d, ETag %q, Cache-Control %q", resp.StatusCode, etag, resp.Header.Get("Cache-Control"))
	}
	if again := a.getWith("/api/v1/summary", etag); again.Code != http.StatusNotModified || again.Body.Len() != 0 {
		t.Fatalf("with If-None-Match %s: %d, %d bytes; want 304 and nothing", etag, again.Code, again.Body.Len())
	}
	if again, _ := a.get("/api/v1/summary"); again.Header.Get("ETag") != etag {
		t.Fatal("the same question got another ETag")
	}
	if n := a.counter("analyzer_answers_total", map[string]string{"how": "cached"}); n != 1 {
		t.Errorf("answers from memory: %v, want 1", n)
	}
	a.castMany("a", 1, a.now.Add(-time.Minute))
	changed := a.getWith("/api/v1/summary", etag)
	if changed.Code != http.StatusOK || changed.Header().Get("ETag") == etag {
		t.Fatalf("after a vote, with the old ETag: %d, ETag %q", changed.Code, changed.Header().Get("ETag"))
	}
	// Answers that look back from now change with the interval now falls in, not only with the data.
	first := a.getWith("/api/v1/momentum", "")
	a.now = a.now.Add(10 * time.Second)
	if later := a.getWith("/api/v1/momentum", first.Header().Get("ETag")); later.Code != http.StatusOK {
		t.Errorf("momentum 10 s later with the old ETag: %d, want a new answer", later.Code)
	}
}

// At most maxInflight distinct questions are computed at once; beyond, a client gets 503 with
// Retry-After at once instead of another query on the database, and clients asking the same
// question share one computation.
func TestAnswersBoundTheWorkAtOnce(t *testing.T) {
	a := newAnalyzer(t, setup{})
	seed(a)
	ctx := context.Background()
	// Hold the rollup, so every computation waits on the database.
	tx, err := a.owner.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `LOCK TABLE vote_rollup IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	codes := make([]int, 4)
	for i := range codes {
		wg.Go(func() { codes[i] = a.getWith(fmt.Sprintf("/api/v1/timeline?bucket=%ds", 10*(i+1)), "").Code })
	}
	same := make([]int, 3)
	for i := range same { // the first question again: no slot of its own
		wg.Go(func() { same[i] = a.getWith("/api/v1/timeline?bucket=10s", "").Code })
	}
	testkit.Eventually(t, 10*time.Second, "four computations waiting on the database", func() bool {
		return a.counter("analyzer_answers_total", map[string]string{"how": "computed"}) == 4
	})
	busy := a.getWith("/api/v1/timeline?bucket=60s", "")
	if busy.Code != http.StatusServiceUnavailable || busy.Header().Get("Retry-After") != "1" {
		t.Errorf("a fifth question while four wait: %d, Retry-After %q; want 503 and 1", busy.Code, busy.Header().Get("Retry-After"))
	}
	tx.Rollback(ctx)
	wg.Wait()
	for i, c := range append(codes, same...) {
		if c != http.StatusOK {
			t.Errorf("question %d: %d", i, c)
		}
	}
	if n := a.counter("analyzer_answers_total", map[string]string{"how": "computed"}); n != 4 {
		t.Errorf("%v computations for 4 distinct questions", n)
	}
}

// getWith sends a GET with If-None-Match (when etag is not empty).
func (a *analyzer) getWith(path, etag string) *httptest.ResponseRecorder {
	a.t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	rec := httptest.NewRecorder()
	a.handler.ServeHTTP(rec, req)
	return rec
}
