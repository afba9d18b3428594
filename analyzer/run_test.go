package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-voting-app/voting-app/platform/postgres/migrations"
	"github.com/go-voting-app/voting-app/testkit"
)

// The whole program against a real, initially empty database, read with a SELECT-only role: not
// ready until the worker's migrations exist, then serving, then shutting down cleanly.
func TestRun(t *testing.T) {
	dbURL := testkit.Postgres(t)
	owner := openPool(t, dbURL)
	env := map[string]string{
		"DATABASE_URL":     readOnlyRole(t, owner, dbURL),
		"HTTP_ADDR":        "127.0.0.1:0",
		"OPS_ADDR":         "127.0.0.1:0",
		"OPTION_A":         "Tea",
		"OPTION_B":         "Coffee",
		"SHUTDOWN_TIMEOUT": "5s",
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logs := &testkit.Logs{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"analyzer"}, func(k string) string { return env[k] }, logs, logs) }()
	api := "http://" + logs.WaitAddr(t, "http")
	ops := "http://" + logs.WaitAddr(t, "ops")

	if code, body := fetch(t, ops+"/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "schema") {
		t.Errorf("readyz before migrations: %d %s", code, body)
	}
	if code, _ := fetch(t, ops+"/livez"); code != http.StatusOK {
		t.Errorf("livez: %d", code)
	}

	// The worker migrates; votes arrive.
	if err := migrations.Up(context.Background(), owner, quiet); err != nil {
		t.Fatal(err)
	}
	w := &analyzer{t: t, owner: owner}
	w.castMany("a", 3, time.Now().Add(-time.Minute))
	w.castMany("b", 1, time.Now().Add(-time.Minute))
	waitReady(t, ops+"/readyz")

	code, body := fetch(t, api+"/api/v1/summary")
	var s summaryBody
	if json.Unmarshal([]byte(body), &s); code != http.StatusOK || s.Total != 4 || s.Options[0].Label != "Tea" || *s.Leader != "a" {
		t.Errorf("summary: %d %s", code, body)
	}
	code, body = fetch(t, api+"/api/v1/insight")
	var in insightBody
	if json.Unmarshal([]byte(body), &in); code != http.StatusOK || in.Source != "rules" || !strings.HasPrefix(in.Narrative, "Tea leads Coffee") {
		t.Errorf("insight: %d %s", code, body)
	}
	_, metrics := fetch(t, ops+"/metrics")
	for _, want := range []string{
		`http_requests_total{code="200",method="GET",route="/api/v1/summary"} 1`,
		`analyzer_insights_total{reason="none",source="rules"} 1`,
		// Rules only: nothing was asked, nothing refused, and the series exist from the start.
		`analyzer_llm_calls_total{outcome="ok"} 0`,
		`analyzer_llm_refused_total{reason="budget"} 0`,
		`analyzer_insight_cache_hits_total 0`,
		`build_info{`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("run did not return after cancel")
	}
	logs.WaitFor(t, time.Second, "servers stopped", func(m map[string]any) bool { return m["msg"] == "servers stopped" })
}

func TestRunRejectsBadConfiguration(t *testing.T) {
	env := map[string]string{"LLM_BASE_URL": "http://llm:8000/v1", "QUERY_TIMEOUT": "forever", "OPTION_B": "cats", "OPTION_A": "Cats",
		"LLM_MAX_CALLS_PER_MINUTE": "0"}
	err := run(context.Background(), nil, func(k string) string { return env[k] }, io.Discard, io.Discard)
	if err == nil {
		t.Fatal("run started with a bad configuration")
	}
	for _, want := range []string{"QUERY_TIMEOUT", "LLM_MODEL", "same label", "LLM_MAX_CALLS_PER_MINUTE"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}

func fetch(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func waitReady(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, body := fetch(t, url)
		if code == http.StatusOK {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready after 30s: %d %s", code, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
