package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-voting-app/voting-app/platform/ballot"
	"github.com/go-voting-app/voting-app/platform/postgres"
)

func get(t *testing.T, url string, header http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

func TestPageShowsTally(t *testing.T) {
	s := newStack(t, defaultStackConfig())
	s.broker.Publish(ballot.NewTally(s.opts, map[string]int64{"a": 1, "b": 2}))
	resp, body := get(t, s.srv.URL+"/", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %s", resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	for _, want := range []string{
		"<title>Tea vs Coffee: results</title>",
		`<span class="label">Tea</span>`, `<span class="label">Coffee</span>`,
		`data-field="percent">33%<`, `data-field="votes">1 vote<`, `class="bar w-33"`,
		`data-field="percent">67%<`, `data-field="votes">2 votes<`, `class="bar w-67"`,
		`data-field="summary">3 votes<`,
		`aria-live="polite"`, `role="status"`, `aria-hidden="true"`,
		`href="/static/style.`, `src="/static/results.`, `data-events="/events"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	if strings.Contains(body, "style=") {
		t.Error("page has a style attribute, which the CSP blocks")
	}
	if strings.Contains(body, "not available yet") {
		t.Error("page shows the not-ready notice although a tally is known")
	}
}

func TestPageEscapesLabels(t *testing.T) {
	opts, err := ballot.NewOptions(`<script>alert(1)</script>`, `Tom & "Jerry"`)
	if err != nil {
		t.Fatal(err)
	}
	u, err := loadUI()
	if err != nil {
		t.Fatal(err)
	}
	page, err := u.render(newPageView(opts, newSnapshot(ballot.NewTally(opts, map[string]int64{"a": 1}), nil), time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	body := string(page)
	if strings.Contains(body, "<script>alert") {
		t.Fatal("label rendered as markup")
	}
	for _, want := range []string{"&lt;script&gt;alert(1)&lt;/script&gt;", "Tom &amp; &#34;Jerry&#34;"} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks escaped label %s", want)
		}
	}
}

func TestPageBeforeFirstTally(t *testing.T) {
	s := newStack(t, defaultStackConfig())
	resp, body := get(t, s.srv.URL+"/", nil)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("status %s, Retry-After %q", resp.Status, resp.Header.Get("Retry-After"))
	}
	for _, want := range []string{"Tea", "Coffee", "Results are not available yet", "Waiting for the first results"} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
}

func TestSecurityHeaders(t *testing.T) {
	s := newStack(t, defaultStackConfig())
	for _, path := range []string{"/", "/api/results", "/static/style.css", "/nope"} {
		resp, _ := get(t, s.srv.URL+path, nil)
		csp := resp.Header.Get("Content-Security-Policy")
		for _, directive := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'",
			"connect-src 'self'", "img-src 'self'", "base-uri 'none'", "frame-ancestors 'none'", "form-action 'none'"} {
			if !strings.Contains(csp, directive) {
				t.Errorf("%s: CSP %q lacks %s", path, csp, directive)
			}
		}
		if strings.Contains(csp, "unsafe") {
			t.Errorf("%s: CSP allows unsafe sources: %q", path, csp)
		}
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: no nosniff", path)
		}
	}
}

// TestHead: HEAD answers wherever GET does, with GET's status and type and no body; on /events
// at once, without a stream.
func TestHead(t *testing.T) {
	s := newStack(t, defaultStackConfig())
	s.broker.Publish(ballot.NewTally(s.opts, map[string]int64{"a": 3, "b": 1}))
	c := &http.Client{Timeout: 5 * time.Second}
	for _, tt := range []struct {
		path        string
		contentType string
	}{
		{"/", "text/html; charset=utf-8"},
		{"/api/results", "application/json"},
		{"/events", "text/event-stream"},
		{"/static/style.000000000000.css", "text/css; charset=utf-8"},
	} {
		resp, err := c.Head(s.srv.URL + tt.path)
		if err != nil {
			t.Errorf("HEAD %s: %v", tt.path, err)
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != tt.contentType || len(body) != 0 {
			t.Errorf("HEAD %s = %d %q, %d bytes; want 200 %q, none", tt.path, resp.StatusCode, resp.Header.Get("Content-Type"), len(body), tt.contentType)
		}
	}
}

func TestAPIResults(t *testing.T) {
	s := newStack(t, defaultStackConfig())

	resp, body := get(t, s.srv.URL+"/api/results", nil)
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("before the first tally: %s", resp.Status)
	}
	var problem struct {
		Status   int
		Detail   string
		Instance string
	}
	if err := json.Unmarshal([]byte(body), &problem); err != nil || problem.Status != 503 || problem.Detail == "" ||
		problem.Instance != "/api/results" || resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("error body %q (%s): %v", body, resp.Header.Get("Content-Type"), err)
	}

	at := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	s.broker.Publish(ballot.NewTally(s.opts, map[string]int64{"a": 3, "b": 1}),
		postgres.BucketVotes{Start: at, Option: "a", Votes: 2}, postgres.BucketVotes{Start: at, Option: "b", Votes: 1},
		postgres.BucketVotes{Start: at.Add(10 * time.Second), Option: "a", Votes: 1},
		postgres.BucketVotes{Start: at.Add(10 * time.Second), Option: "zz", Votes: 7}) // not on the ballot
	resp, body = get(t, s.srv.URL+"/api/results", nil)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("%s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"options": []any{
			map[string]any{"key": "a", "label": "Tea", "votes": 3.0, "percent": 75.0},
			map[string]any{"key": "b", "label": "Coffee", "votes": 1.0, "percent": 25.0},
		},
		"total":   4.0,
		"summary": "4 votes",
		"lead": map[string]any{
			"text": "Too close to call. Lead: Tea, by 50.0 points over Coffee (95% interval -39.9 to 90.9); " +
				"the chance it holds is 81.3%.",
			"leader": "a", "margin": 50.0, "low": -39.87163148351962, "high": 90.88254783805989,
			"significant": false, "probability": 0.8125,
		},
		"recent": map[string]any{
			"interval_seconds": 10.0, "window_seconds": 300.0,
			"buckets": []any{
				map[string]any{"start": "2026-12-03T12:00:00Z", "votes": map[string]any{"a": 2.0, "b": 1.0}},
				map[string]any{"start": "2026-12-03T12:00:10Z", "votes": map[string]any{"a": 1.0}},
			},
		},
	}
	gotJSON, _ := json.Marshal(got)
	wantJSON, _ := json.Marshal(want)
	if string(gotJSON) != string(wantJSON) {
		t.Fatalf("got %s\nwant %s", gotJSON, wantJSON)
	}

	etag := resp.Header.Get("ETag")
	if again, _ := get(t, s.srv.URL+"/api/results", http.Header{"If-None-Match": {etag}}); again.StatusCode != http.StatusNotModified {
		t.Fatalf("unchanged tally with If-None-Match: %s", again.Status)
	}
	s.broker.Publish(ballot.NewTally(s.opts, map[string]int64{"a": 3, "b": 2}))
	if again, _ := get(t, s.srv.URL+"/api/results", http.Header{"If-None-Match": {etag}}); again.StatusCode != http.StatusOK {
		t.Fatalf("changed tally with the old ETag: %s", again.Status)
	}
}

func TestStaticFiles(t *testing.T) {
	s := newStack(t, defaultStackConfig())
	u, err := loadUI()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path, ctype, cache string
		status             int
	}{
		{u.assets.Path(styleFile), "text/css; charset=utf-8", "public, max-age=31536000, immutable", 200},
		{u.assets.Path(scriptFile), "text/javascript; charset=utf-8", "public, max-age=31536000, immutable", 200},
		{"/static/style.000000000000.css", "text/css; charset=utf-8", "no-cache", 200},
		{"/static/style.css", "", "", 404},
		{"/static/page.html", "", "", 404},
		{"/static/..%2fmain.go", "", "", 404},
	}
	for _, tt := range tests {
		resp, _ := get(t, s.srv.URL+tt.path, nil)
		if resp.StatusCode != tt.status {
			t.Errorf("%s: %s", tt.path, resp.Status)
			continue
		}
		if tt.status != 200 {
			continue
		}
		if resp.Header.Get("Content-Type") != tt.ctype || resp.Header.Get("Cache-Control") != tt.cache {
			t.Errorf("%s: Content-Type %q Cache-Control %q", tt.path, resp.Header.Get("Content-Type"), resp.Header.Get("Cache-Control"))
		}
		etag := resp.Header.Get("ETag")
		again, _ := get(t, s.srv.URL+tt.path, http.Header{"If-None-Match": {etag}})
		if again.StatusCode != http.StatusNotModified {
			t.Errorf("%s with If-None-Match %s: %s", tt.path, etag, again.Status)
		}
	}
}
