package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-voting-app/voting-app/testkit"
)

// TestRun starts the whole program on free ports against a real database, uses every endpoint,
// then stops it while a browser is still streaming.
func TestRun(t *testing.T) {
	t.Parallel()
	dbURL := testkit.Postgres(t)
	db := migratedDB(t, dbURL)
	vote(t, db, "v1", "a")

	env := map[string]string{
		"HTTP_ADDR":          "127.0.0.1:0",
		"OPS_ADDR":           "127.0.0.1:0",
		"DATABASE_URL":       dbURL,
		"OPTION_A":           "Tabs",
		"OPTION_B":           "Spaces",
		"TALLY_MIN_INTERVAL": "50ms",
		"SHUTDOWN_TIMEOUT":   "1m",
		"LOG_LEVEL":          "debug",
	}
	logs := &testkit.Logs{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, func(k string) string { return env[k] }, logs, logs) }()

	base := "http://" + logs.WaitAddr(t, "http")
	opsBase := "http://" + logs.WaitAddr(t, "ops")
	testkit.Eventually(t, 30*time.Second, "/readyz to answer 200", func() bool {
		resp, err := http.Get(opsBase + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})

	resp, page := get(t, base+"/", nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "Tabs vs Spaces") ||
		!strings.Contains(page, `data-field="percent">100%<`) || !strings.Contains(page, `data-field="summary">1 vote<`) {
		t.Fatalf("page: %s\n%s", resp.Status, page)
	}
	if resp.Header.Get("Content-Security-Policy") == "" {
		t.Fatal("page without CSP")
	}

	resp, body := get(t, base+"/api/results", nil)
	var r results
	if err := json.Unmarshal([]byte(body), &r); err != nil || resp.StatusCode != 200 || r.Total != 1 || r.Options[0].Label != "Tabs" {
		t.Fatalf("/api/results: %s %s (%v)", resp.Status, body, err)
	}

	c := connectSSE(t, http.DefaultClient, base, nil)
	c.waitTotal(t, 1)
	vote(t, db, "v2", "b")
	if got := c.waitTotal(t, 2).Results; got.Options[1].Label != "Spaces" || got.Options[1].Percent != 50 {
		t.Fatalf("event after a vote: %+v", got)
	}

	if resp, _ := get(t, opsBase+"/livez", nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("/livez: %s", resp.Status)
	}
	_, metrics := get(t, opsBase+"/metrics", nil)
	for _, want := range []string{
		"result_sse_clients 1",
		`result_tally_queries_total{trigger="connect"} 1`,
		`result_tally_queries_total{trigger="notify"}`,
		"result_sse_events_sent_total",
		"result_listener_reconnects_total 0",
		`http_requests_total{code="200",method="GET",route="/api/results"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	// Shutdown must not wait for the open stream: the broker ends it when shutdown starts.
	stopped := time.Now()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(30 * time.Second): // half of SHUTDOWN_TIMEOUT: a held stream would take all of it
		t.Fatalf("run did not return within 30s of cancel, with SHUTDOWN_TIMEOUT at 1m\n%s", logs)
	}
	select {
	case <-c.closed:
	case <-time.After(10 * time.Second):
		t.Fatal("the stream stayed open after run returned")
	}
	t.Logf("run returned %s after cancel", time.Since(stopped).Round(time.Millisecond))
	if _, found := logs.Find(func(m map[string]any) bool { return m["level"] == "ERROR" }); found {
		t.Fatalf("errors logged:\n%s", logs)
	}
}

func TestRunRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"same labels", map[string]string{"OPTION_A": "Cats", "OPTION_B": "cats"}, "same label"},
		{"bad interval", map[string]string{"TALLY_MIN_INTERVAL": "soon"}, "TALLY_MIN_INTERVAL"},
		{"recheck shorter than interval", map[string]string{"TALLY_MIN_INTERVAL": "5s", "TALLY_RECHECK_INTERVAL": "2s"}, "TALLY_RECHECK_INTERVAL"},
		{"stream cap out of range", map[string]string{"SSE_MAX_STREAMS": "0"}, "SSE_MAX_STREAMS"},
		{"bad log level", map[string]string{"LOG_LEVEL": "loud"}, "LOG_LEVEL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := run(context.Background(), nil, func(k string) string { return tt.env[k] }, &testkit.Logs{}, &testkit.Logs{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("run: %v, want an error about %s", err, tt.want)
			}
		})
	}
}
