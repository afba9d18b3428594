package main

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-voting-app/voting-app/platform/ballot"
	"github.com/go-voting-app/voting-app/platform/queue"
	"github.com/go-voting-app/voting-app/testkit"
)

// TestRun starts the whole program as main does, and votes over real HTTP like a browser.
func TestRun(t *testing.T) {
	redisURL, prefix := testkit.Redis(t)
	env := map[string]string{
		"HTTP_ADDR":   "127.0.0.1:0",
		"OPS_ADDR":    "127.0.0.1:0",
		"REDIS_URL":   redisURL,
		"VOTE_STREAM": prefix + "votes",
		"OPTION_A":    "Tabs",
		"OPTION_B":    "Spaces",
		"LOG_LEVEL":   "debug",
	}
	ctx, cancel := context.WithCancel(context.Background())
	logs := &testkit.Logs{}
	var runErr error
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		runErr = run(ctx, []string{"vote"}, func(k string) string { return env[k] }, logs, logs)
	}()
	t.Cleanup(func() {
		cancel()
		<-stopped
	})

	base := "http://" + logs.WaitAddr(t, "http")
	ops := "http://" + logs.WaitAddr(t, "ops")
	waitReady(t, ops+"/readyz")

	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Jar: jar, Timeout: 10 * time.Second}

	status, page := get(t, client, base+"/")
	if status != http.StatusOK || !strings.Contains(page, "<h1>Tabs or Spaces?</h1>") {
		t.Fatalf("GET / = %d\n%s", status, page)
	}
	var voter string
	u, _ := url.Parse(base)
	for _, c := range jar.Cookies(u) {
		if c.Name == voterCookie {
			voter = c.Value
		}
	}
	if _, err := ballot.ParseVoterID(voter); err != nil {
		t.Fatalf("no voter cookie after the first visit: %v", jar.Cookies(u))
	}

	// The form post as a browser sends it; the client follows the 303 like one.
	req, _ := http.NewRequest(http.MethodPost, base+"/", strings.NewReader("vote=a"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", base)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || res.Request.Method != http.MethodGet || res.Request.URL.Path != "/" {
		t.Fatalf("vote ended at %s %s with %d, want the ballot after a redirect", res.Request.Method, res.Request.URL, res.StatusCode)
	}
	if !strings.Contains(string(body), "You voted for <strong>Tabs</strong>") {
		t.Errorf("page after voting does not show the choice:\n%s", body)
	}

	rdb, err := queue.Open(queue.Config{URL: redisURL}, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	casts, err := rdb.LRange(context.Background(), queue.InboxKey(env["VOTE_STREAM"]), 0, -1).Result()
	if err != nil || len(casts) != 1 || !strings.Contains(casts[0], `"voter":"`+voter+`"`) || !strings.Contains(casts[0], `"vote":"a"`) {
		t.Fatalf("inbox = %v, %v; want one vote for a by %s", casts, err, ballot.Redact(voter))
	}

	_, metrics := get(t, client, ops+"/metrics")
	for _, want := range []string{
		`votes_cast_total{option="a"} 1`,
		`votes_cast_total{option="b"} 0`,
		`vote_failures_total{reason="queue_unavailable"} 0`,
		`http_requests_total{code="303",method="POST",route="/"} 1`,
		`vote_append_duration_seconds_count{result="ok"} 1`,
		`build_info{`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if status, _ := get(t, client, ops+"/livez"); status != http.StatusOK {
		t.Errorf("/livez = %d", status)
	}
	if status, _ := get(t, client, base+"/metrics"); status != http.StatusNotFound {
		t.Errorf("/metrics on the public port = %d, want 404", status)
	}

	cancel()
	select {
	case <-stopped:
		if runErr != nil {
			t.Errorf("run returned %v, want nil after cancel", runErr)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("run did not return 20s after cancel")
	}
	if strings.Contains(logs.String(), voter) {
		t.Error("a full voter id appears in the log")
	}
}

func TestRunRejectsBadConfig(t *testing.T) {
	env := map[string]string{
		"OPTION_A":     "Cats",
		"OPTION_B":     "cats",
		"VOTE_TIMEOUT": "forever",
		"REDIS_URL":    "redis://127.0.0.1:1/0",
	}
	err := run(context.Background(), nil, func(k string) string { return env[k] }, io.Discard, io.Discard)
	if err == nil {
		t.Fatal("run accepted two equal labels and a bad VOTE_TIMEOUT")
	}
	for _, want := range []string{"VOTE_TIMEOUT", "same label"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}

func get(t *testing.T, client *http.Client, url string) (int, string) {
	t.Helper()
	res, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(body)
}

func waitReady(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		res, err := http.Get(url)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready after 20s (last: %v)", url, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
