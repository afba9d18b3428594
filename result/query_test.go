package main

import (
	"bufio"
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-voting-app/voting-app/platform/ballot"
)

// garbageQueries are query strings a client might send to any route: SQL and markup
// metacharacters, bad escapes, NUL bytes, repeated and oversized parameters. No route of the
// result service takes parameters, and no request value reaches a query: the feed runs fixed statements.
var garbageQueries = []string{
	"x='%20OR%201=1;%20DROP%20TABLE%20votes;--",
	"option=a'%22;--&option=b",
	"%zz=%zz&%=%",
	"q=%00%00%ff%fe",
	"<script>alert(1)</script>",
	"id=1%20UNION%20SELECT%20password%20FROM%20pg_shadow",
	"v=" + strings.Repeat("9", 4000),
	strings.Repeat("a=1&", 1000),
	"callback=evil&format=xml&limit=-1&offset=99999999999999999999",
}

// Garbage query strings change nothing: /api/results answers the same document under the same
// ETag, the page renders, the event stream starts with the current tally.
func TestGarbageQueryStringsAreIgnored(t *testing.T) {
	s := newStack(t, defaultStackConfig())
	s.broker.Publish(ballot.NewTally(s.opts, map[string]int64{"a": 5, "b": 7}))
	clean, cleanBody := get(t, s.srv.URL+"/api/results", nil)
	if clean.StatusCode != http.StatusOK {
		t.Fatalf("/api/results: %s", clean.Status)
	}

	for _, q := range garbageQueries {
		name := q
		if len(name) > 40 {
			name = name[:40] + "…"
		}
		t.Run(name, func(t *testing.T) {
			resp, body := get(t, s.srv.URL+"/api/results?"+q, nil)
			if resp.StatusCode != http.StatusOK || body != cleanBody || resp.Header.Get("ETag") != clean.Header.Get("ETag") {
				t.Errorf("/api/results?%s: %s %q, want the same 200 document and ETag as without a query", q, resp.Status, body)
			}
			resp, body = get(t, s.srv.URL+"/?"+q, nil)
			if resp.StatusCode != http.StatusOK || !strings.Contains(body, `data-field="summary">12 votes<`) {
				t.Errorf("/?%s: %s, want the page with the tally", q, resp.Status)
			}
			if strings.Contains(body, "<script>alert") || strings.Contains(body, "DROP TABLE") {
				t.Errorf("/?%s: the query string is echoed into the page", q)
			}
			// The style sheet under its own name: the query changes nothing.
			css := s.ui.assets.Path(styleFile)
			resp, _ = get(t, s.srv.URL+css+"?"+q, nil)
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" {
				t.Errorf("%s?%s: %s, Cache-Control %q; want 200, immutable", css, q, resp.Status, resp.Header.Get("Cache-Control"))
			}
			checkFirstEvent(t, s.srv.URL+"/events?"+q, `"total":12`)
		})
	}
}

// Parameters that look like the API's are not one: asking for another option or a filter gives
// the whole tally all the same.
func TestResultsHaveNoFilters(t *testing.T) {
	s := newStack(t, defaultStackConfig())
	s.broker.Publish(ballot.NewTally(s.opts, map[string]int64{"a": 1, "b": 2}))
	_, want := get(t, s.srv.URL+"/api/results", nil)
	for _, q := range []url.Values{
		{"option": {"a"}},
		{"key": {"b"}, "since": {"1970-01-01"}},
		{"vote": {"c"}},
	} {
		if resp, body := get(t, s.srv.URL+"/api/results?"+q.Encode(), nil); resp.StatusCode != http.StatusOK || body != want {
			t.Errorf("/api/results?%s: %s %s, want %s", q.Encode(), resp.Status, body, want)
		}
	}
}

// checkFirstEvent opens an event stream and wants its first tally event to contain want.
func checkFirstEvent(t *testing.T, u, want string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("GET %s: %s %q, want an event stream", u, resp.Status, resp.Header.Get("Content-Type"))
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			if !strings.Contains(data, want) {
				t.Errorf("GET %s: first event %s, want %s in it", u, data, want)
			}
			return
		}
	}
	t.Errorf("GET %s: the stream ended without an event: %v", u, sc.Err())
}
