package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-voting-app/voting-app/platform/ballot"
	"github.com/go-voting-app/voting-app/platform/queue"
	"github.com/go-voting-app/voting-app/testkit"
)

// endless is a request body that never ends, counting what is read of it.
type endless struct{ read int64 }

func (e *endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'a'
	}
	e.read += int64(len(p))
	return len(p), nil
}

// A body of any size is refused after maxBody bytes: the service never reads (or buffers) more.
func TestHugeBodyIsNotRead(t *testing.T) {
	ts := newTestServer(t)
	for _, tt := range []struct {
		name, start string
		req         func(io.Reader) *http.Request
	}{
		{"form", "vote=a&pad=", func(body io.Reader) *http.Request {
			r := httptest.NewRequest(http.MethodPost, "/", body)
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return r
		}},
		{"api", `{"vote":"`, func(body io.Reader) *http.Request {
			r := httptest.NewRequest(http.MethodPost, "/api/v1/votes", body)
			r.Header.Set("Content-Type", "application/json")
			return r
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			body := &endless{}
			res, _ := ts.serve(t, tt.req(io.MultiReader(strings.NewReader(tt.start), body)))
			if res.StatusCode != http.StatusRequestEntityTooLarge {
				t.Fatalf("endless body = %d, want 413", res.StatusCode)
			}
			// Reads come in buffer-sized chunks; the point is that they stop.
			if body.read > 64<<10 {
				t.Errorf("read %d bytes of an endless body, want about %d", body.read, maxBody)
			}
		})
	}
	if n := len(ts.entries(t)); n != 0 {
		t.Errorf("refused bodies wrote %d stream entries", n)
	}
}

// A vote whose voter_id cookie is not one the service issues still counts, under a fresh id: the
// cookie's value never reaches the stream, whatever its size or content.
func TestVoteWithBadCookieCountsUnderFreshID(t *testing.T) {
	ts := newTestServer(t)
	valid := string(ballot.NewVoterID())
	for name, header := range map[string]string{
		"oversized":         voterCookie + "=" + strings.Repeat("a", 8<<10),
		"uppercase":         voterCookie + "=" + strings.ToUpper(valid),
		"sql":               voterCookie + "=1' OR '1'='1",
		"entry field names": voterCookie + "=voter vote ts",
		"control bytes":     voterCookie + "=" + valid[:30] + "\x00\x01",
		"no value":          voterCookie,
		"empty":             voterCookie + "=",
	} {
		t.Run(name, func(t *testing.T) {
			before := len(ts.entries(t))
			req := formVote("vote=a")
			req.Header.Set("Cookie", header)
			res, _ := ts.serve(t, req)
			if res.StatusCode != http.StatusSeeOther {
				t.Fatalf("vote = %d, want 303", res.StatusCode)
			}
			issued := cookieNamed(res, voterCookie)
			checkVoterCookie(t, issued, false)
			entries := ts.entries(t)
			if len(entries) != before+1 {
				t.Fatalf("stream grew by %d entries, want 1", len(entries)-before)
			}
			got := entries[len(entries)-1].Values[queue.FieldVoter]
			if issued == nil || got != issued.Value {
				t.Errorf("the entry's voter %v is not the id issued in the response", got)
			}
		})
	}
}

// Headers beyond the server's limit (16 KiB) are refused before any handler runs.
func TestRunRefusesHugeHeaders(t *testing.T) {
	redisURL, prefix := testkit.Redis(t)
	env := map[string]string{
		"HTTP_ADDR":   "127.0.0.1:0",
		"OPS_ADDR":    "127.0.0.1:0",
		"REDIS_URL":   redisURL,
		"VOTE_STREAM": prefix + "votes",
	}
	ctx, cancel := context.WithCancel(context.Background())
	logs := &testkit.Logs{}
	stopped := make(chan error, 1)
	go func() { stopped <- run(ctx, []string{"vote"}, func(k string) string { return env[k] }, logs, logs) }()
	t.Cleanup(func() {
		cancel()
		if err := <-stopped; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	base := "http://" + logs.WaitAddr(t, "http")

	req, _ := http.NewRequest(http.MethodPost, base+"/", strings.NewReader("vote=a"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Cookie", voterCookie+"="+strings.Repeat("f", 32<<10))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("32 KiB cookie = %d, want 431", res.StatusCode)
	}
	rdb, err := queue.Open(queue.Config{URL: redisURL}, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	if n, err := rdb.XLen(context.Background(), env["VOTE_STREAM"]).Result(); err != nil || n != 0 {
		t.Errorf("stream length %d (%v) after a refused request, want 0", n, err)
	}
}
