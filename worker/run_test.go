package main

import (
	"context"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-voting-app/voting-app/platform/queue"
	"github.com/go-voting-app/voting-app/testkit"
	"github.com/redis/go-redis/v9"
)

// The whole program against real servers: it migrates, becomes ready, moves votes, exposes
// metrics, and stops cleanly.
func TestRun(t *testing.T) {
	dbURL := testkit.Postgres(t)
	redisURL, prefix := testkit.Redis(t)
	env := map[string]string{
		"OPS_ADDR":      "127.0.0.1:0",
		"DATABASE_URL":  dbURL,
		"REDIS_URL":     redisURL,
		"VOTE_STREAM":   prefix + "votes",
		"CONSUMER_NAME": "run-test",
		"BATCH_WAIT":    "50ms",
		"LOG_LEVEL":     "debug",
	}
	logs := &testkit.Logs{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"worker"}, func(k string) string { return env[k] }, logs, io.Discard)
	}()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run returned %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("run did not return within 20s of cancel")
		}
	}()

	ops := "http://" + logs.WaitAddr(t, "ops")
	testkit.Eventually(t, 20*time.Second, "/readyz to answer 200", func() bool { return get(t, ops+"/readyz") == 200 })
	if code := get(t, ops+"/livez"); code != 200 {
		t.Fatalf("/livez = %d", code)
	}

	// Every kind of dead letter is exported from the start, at zero: a rule sees the first one of a
	// kind as an increase, not as a series appearing.
	start := body(t, ops+"/metrics")
	for _, k := range append(slices.Clone(queue.Kinds), kindRejected, kindPanic) {
		if !strings.Contains(start, `worker_dead_letters_total{kind="`+k+`"} 0`) {
			t.Errorf("at start, no worker_dead_letters_total{kind=%q} 0", k)
		}
	}

	r := newRig(t, dbURL, redisURL, prefix)
	want := r.add(cast{"0123456789abcdef0123456789abcdef", "a"}, cast{"fedcba9876543210fedcba9876543210", "b"},
		cast{"0123456789abcdef0123456789abcdef", "b"})
	r.rdb.XAdd(ctx, &redis.XAddArgs{Stream: prefix + "votes", Values: []any{"voter", "x", "vote", "nope"}})
	r.group = "vote-workers"
	r.waitStored(want, 20*time.Second)

	var m string
	defer func() {
		if t.Failed() {
			t.Logf("metrics:\n%s", m)
		}
	}()
	testkit.Eventually(t, 10*time.Second, "metrics to show the work", func() bool {
		m = body(t, ops+"/metrics")
		return strings.Contains(m, "worker_entries_acknowledged_total 4") &&
			strings.Contains(m, `worker_dead_letters_total{kind="unknown_option"} 1`) &&
			strings.Contains(m, `build_info{`)
	})
	if strings.Contains(logs.String(), "0123456789abcdef0123456789abcdef") {
		t.Fatal("a full voter id was logged")
	}
}

func get(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func body(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
