//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestMonitoring runs the stack with the compose profile monitoring (make e2e-monitoring): every
// service's ops port is a healthy Prometheus target, worker replicas included; votes, a live
// result page, analyzer questions and a malformed queue entry show up as live numbers on the
// dashboard (consoles/voting.html) in a real browser, and the dead letter fires its alert; and from
// inside Prometheus's network namespace the services' ops ports answer while Redis and Postgres
// cannot be reached.
func TestMonitoring(t *testing.T) {
	chromium := findChromium(t)
	s := startStack(t, envOr("E2E_PROJECT", "voting-app-e2e-monitoring"), workers, "monitoring")
	prom := s.URL(t, "prometheus", "9090")

	t.Run("targets", func(t *testing.T) { testTargets(t, prom) })
	// Prometheus is held to what every container of the stack is: a non-root user, a read-only
	// root file system, no capabilities, limits, healthy.
	t.Run("hardening", func(t *testing.T) { testHardening(t, s) })
	t.Run("segmentation", func(t *testing.T) { testPrometheusSegmentation(t, s) })
	t.Run("dashboard", func(t *testing.T) { testDashboard(t, s, prom, chromium) })
}

// wantTargets is how many targets each scrape job has: one per replica.
var wantTargets = map[string]int{"vote": 1, "worker": workers, "result": 1, "analyzer": 1, "prometheus": 1}

// testTargets waits until Prometheus's targets API lists every replica of every service, each up.
func testTargets(t *testing.T, prom string) {
	var last string
	ok := poll(t, 60*time.Second, func() bool {
		var resp struct {
			Data struct {
				ActiveTargets []struct {
					Labels    map[string]string `json:"labels"`
					Health    string            `json:"health"`
					LastError string            `json:"lastError"`
				} `json:"activeTargets"`
			} `json:"data"`
		}
		if err := promGet(t.Context(), prom+"/api/v1/targets?state=active", &resp); err != nil {
			last = err.Error()
			return false
		}
		up, seen := map[string]int{}, map[string]int{}
		var states []string
		for _, tg := range resp.Data.ActiveTargets {
			job := tg.Labels["job"]
			seen[job]++
			if tg.Health == "up" {
				up[job]++
			}
			states = append(states, fmt.Sprintf("%s %s %s %s", job, tg.Labels["instance"], tg.Health, tg.LastError))
		}
		slices.Sort(states)
		last = strings.Join(states, "\n")
		for job, n := range wantTargets {
			if seen[job] != n || up[job] != n {
				return false
			}
		}
		return len(seen) == len(wantTargets)
	})
	if !ok {
		t.Fatalf("targets after 60s, want %v all up:\n%s", wantTargets, last)
	}
	t.Logf("every target up:\n%s", last)
}

// testPrometheusSegmentation runs netprobe in Prometheus's network namespace: the services' ops
// ports answer; Redis and Postgres do not, neither by name nor by address.
func testPrometheusSegmentation(t *testing.T, s *stack) {
	probe := buildProbe(t, s)
	db := s.service(t, "db")[0].IP(s, "store")
	redis := s.service(t, "redis")[0].IP(s, "queue")
	if db == "" || redis == "" {
		t.Fatalf("db on store %q, redis on queue %q: want both attached", db, redis)
	}
	reach := []string{"vote:9090", "worker:9090", "result:9090", "analyzer:9090"}
	never := []string{"db:5432", db + ":5432", "redis:6379", redis + ":6379"}
	c := s.service(t, "prometheus")[0]
	got := runProbe(t, s, probe, c, append(slices.Clone(reach), never...))
	for _, addr := range reach {
		if r := got[addr]; !r.OK {
			t.Errorf("prometheus cannot reach %s: %s", addr, r.Error)
		}
	}
	for _, addr := range never {
		if r := got[addr]; r.OK {
			t.Errorf("prometheus reaches %s; it must not", addr)
		} else {
			t.Logf("prometheus → %s refused as it should be: %s", addr, r.Error)
		}
	}
}

// testDashboard makes traffic of every kind, waits until Prometheus has scraped it, then opens the
// dashboard in Chromium and reads its numbers; the page is saved as docs/dashboard.png.
func testDashboard(t *testing.T, s *stack, prom, chromium string) {
	voteURL := s.URL(t, "vote", "8080")
	resultURL := s.URL(t, "result", "8081")
	analyzerURL := s.URL(t, "analyzer", "8082")

	// A browser on the result page, for as long as the test runs: a live stream.
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	events := subscribe(t, ctx, resultURL+"/events")
	go func() {
		for range events { // keep reading, as a browser would
		}
	}()

	p := newPlan(120)
	castAll(t, voteURL, p, 8)
	for _, path := range []string{"/api/v1/summary", "/api/v1/timeline?bucket=1m", "/api/v1/summary"} {
		var v any
		getJSON(t, analyzerURL+path, &v)
	}
	// An entry no vote service would write, straight onto the stream: the worker dead-letters it.
	if out, err := s.compose(t.Context(), "exec", "-T", "--env", "REDISCLI_AUTH="+s.secret(t, "redis_admin_password"),
		"redis", "redis-cli", "XADD", "votes:stream", "*", "not_a_vote", "1"); err != nil {
		t.Fatalf("XADD a malformed entry: %v\n%s", err, out)
	}

	// Prometheus has the numbers once it has scraped after the votes were counted.
	waitQuery(t, prom, fmt.Sprintf("sum(votes_cast_total) >= %d", p.casts()))
	waitQuery(t, prom, "sum(worker_votes_applied_total) > 0")
	// The recording rules run on their own clock: wait for the one the dashboard's rate shows.
	waitQuery(t, prom, "job:votes_cast:rate1m > 0")
	waitQuery(t, prom, "sum(result_sse_clients) >= 1")
	waitQuery(t, prom, `sum(worker_dead_letters_total{kind="missing_field"}) >= 1`)
	// The rules see it too: the dead letter fires its alert, and nothing else fires.
	waitQuery(t, prom, `ALERTS{alertname="WorkerDeadLetters", alertstate="firing", kind="missing_field"}`)
	if got := queryValues(t, prom, `count by (alertname) (ALERTS{alertstate="firing", alertname!="WorkerDeadLetters"})`); len(got) > 0 {
		t.Errorf("alerts firing besides WorkerDeadLetters: %v", got)
	}

	bctx, bcancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer bcancel()
	tab := startBrowser(t, bctx, chromium)
	if err := chromedp.Do(tab, chromedp.EmulateViewport(1280, 1000)); err != nil {
		t.Fatalf("viewport: %v", err)
	}
	openPage(t, tab, prom+"/consoles/voting.html")
	numbers, err := chromedp.Run(tab, chromedp.Evaluate[map[string]string](`Object.fromEntries(
		Array.from(document.querySelectorAll("[data-metric]"), (e) => [e.dataset.metric, e.textContent.trim()]))`))
	if err != nil {
		t.Fatalf("reading the dashboard: %v", err)
	}
	t.Logf("dashboard: %v", numbers)
	number := func(name string) float64 {
		v, ok := numbers[name]
		if !ok {
			t.Errorf("the dashboard shows no %s", name)
			return 0
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			t.Errorf("the dashboard's %s is %q, not a number", name, v)
		}
		return f
	}
	var total float64
	for _, n := range wantTargets {
		total += float64(n)
	}
	for name, check := range map[string]func(float64) bool{
		"votes-cast":       func(v float64) bool { return v >= float64(p.casts()) },
		"votes-rate":       func(v float64) bool { return v > 0 },
		"votes-applied":    func(v float64) bool { return v > 0 },
		"dead-letters":     func(v float64) bool { return v >= 1 },
		"workers-up":       func(v float64) bool { return v == workers },
		"result-streams":   func(v float64) bool { return v >= 1 },
		"result-events":    func(v float64) bool { return v > 0 },
		"analyzer-answers": func(v float64) bool { return v >= 3 },
		"targets-up":       func(v float64) bool { return v == total },
		"targets":          func(v float64) bool { return v == total },
	} {
		if v := number(name); !check(v) {
			t.Errorf("dashboard %s = %v: not what the traffic made", name, v)
		}
	}
	if lag, ok := numbers["worker-lag"]; !ok || lag == "–" {
		t.Errorf("dashboard worker-lag %q, want a duration", lag)
	}
	if a := numbers["alerts"]; !strings.Contains(a, "WorkerDeadLetters") {
		t.Errorf("dashboard alerts %q, want WorkerDeadLetters listed", a)
	}
	if opts := numbers["options"]; !strings.Contains(opts, "option a") || !strings.Contains(opts, "option b") {
		t.Errorf("dashboard options %q, want both options", opts)
	}

	png, err := chromedp.Run(tab, chromedp.FullScreenshot(100)) // 100: PNG
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	out := filepath.Join(s.root, "docs", "dashboard.png")
	if err := os.WriteFile(out, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("dashboard screenshot: %s (%d bytes)", out, len(png))
}

// poll calls cond every half second until it holds or the timeout passes.
func poll(t *testing.T, timeout time.Duration, cond func() bool) bool {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) || t.Context().Err() != nil {
			return false
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// waitQuery waits until the instant query returns at least one sample.
func waitQuery(t *testing.T, prom, query string) {
	t.Helper()
	start := time.Now()
	if !poll(t, 60*time.Second, func() bool { return len(queryValues(t, prom, query)) > 0 }) {
		t.Fatalf("Prometheus: %s returned nothing for 60s", query)
	}
	t.Logf("Prometheus: %s after %s", query, time.Since(start).Round(100*time.Millisecond))
}

// queryValues runs an instant query and returns each sample's labels and value.
func queryValues(t *testing.T, prom, query string) []string {
	t.Helper()
	var resp struct {
		Data struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := promGet(t.Context(), prom+"/api/v1/query?query="+url.QueryEscape(query), &resp); err != nil {
		t.Logf("query %s: %v", query, err)
		return nil
	}
	var out []string
	for _, r := range resp.Data.Result {
		out = append(out, fmt.Sprintf("%v %v", r.Metric, r.Value[1]))
	}
	return out
}

func promGet(ctx context.Context, u string, v any) error {
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Do(mustRequest(ctx, http.MethodGet, u, "", nil))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}
