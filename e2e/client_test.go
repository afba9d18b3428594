//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// plan says what every voter does: a first vote and, for about a third of them, a change of mind.
// It is random but seeded, so a failure can be replayed with the same votes.
type plan struct {
	first, second []string // second[i] is "" when voter i keeps the first choice
}

func newPlan(voters int) plan {
	rng := rand.New(rand.NewPCG(2024, uint64(voters)))
	p := plan{first: make([]string, voters), second: make([]string, voters)}
	for i := range voters {
		p.first[i] = "b"
		if rng.Float64() < 0.55 {
			p.first[i] = "a"
		}
		if rng.Float64() < 0.3 {
			p.second[i] = map[string]string{"a": "b", "b": "a"}[p.first[i]]
		}
	}
	return p
}

// want is the tally the plan must end in: each voter's last choice, once.
func (p plan) want() map[string]int64 {
	m := map[string]int64{"a": 0, "b": 0}
	for i := range p.first {
		if p.second[i] != "" {
			m[p.second[i]]++
		} else {
			m[p.first[i]]++
		}
	}
	return m
}

func (p plan) changes() int {
	n := 0
	for _, s := range p.second {
		if s != "" {
			n++
		}
	}
	return n
}

func (p plan) casts() int { return len(p.first) + p.changes() }

// leader is the option with the most votes in the end, or "" on a tie.
func (p plan) leader() string {
	w := p.want()
	switch {
	case w["a"] > w["b"]:
		return "a"
	case w["b"] > w["a"]:
		return "b"
	}
	return ""
}

// castAll has every voter of the plan vote, concurrency at a time.
func castAll(t *testing.T, base string, p plan, concurrency int) {
	t.Helper()
	next := make(chan int)
	var wg sync.WaitGroup
	for range concurrency {
		wg.Go(func() {
			for i := range next {
				if err := castVoter(t.Context(), base, i, p.first[i], p.second[i]); err != nil {
					t.Errorf("voter %d: %v", i, err)
				}
			}
		})
	}
	for i := range p.first {
		next <- i
	}
	close(next)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
}

// castVoter behaves like one browser: it opens the ballot page, which sets the voter_id cookie,
// then votes, and votes again if it changes its mind. Votes alternate between the form (303 to
// the page) and the JSON API (202), so both paths feed the same tally.
func castVoter(ctx context.Context, base string, i int, first, second string) error {
	jar, err := cookiejar.New(nil)
	if err != nil {
		return err
	}
	c := &http.Client{
		Jar:     jar,
		Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	if err := expect(c, mustRequest(ctx, http.MethodGet, base+"/", "", nil), http.StatusOK); err != nil {
		return fmt.Errorf("ballot page: %w", err)
	}
	u, _ := url.Parse(base)
	if !hasCookie(jar.Cookies(u), "voter_id") {
		return fmt.Errorf("the ballot page set no voter_id cookie")
	}
	for j, option := range []string{first, second} {
		if option == "" {
			break
		}
		var req *http.Request
		status := http.StatusSeeOther
		if (i+j)%2 == 0 {
			form := url.Values{"vote": {option}}.Encode()
			req = mustRequest(ctx, http.MethodPost, base+"/", "application/x-www-form-urlencoded", strings.NewReader(form))
		} else {
			body := fmt.Sprintf(`{"vote":%q}`, option)
			req = mustRequest(ctx, http.MethodPost, base+"/api/v1/votes", "application/json", strings.NewReader(body))
			status = http.StatusAccepted
		}
		if err := expect(c, req, status); err != nil {
			return fmt.Errorf("vote %d (%s): %w", j+1, option, err)
		}
	}
	return nil
}

func mustRequest(ctx context.Context, method, url, contentType string, body io.Reader) *http.Request {
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		panic(err) // the test builds the URLs
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return req
}

func expect(c *http.Client, req *http.Request, status int) error {
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != status {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("%s %s: %s, want %d: %s", req.Method, req.URL.Path, resp.Status, status, body)
	}
	return nil
}

func hasCookie(cs []*http.Cookie, name string) bool {
	for _, c := range cs {
		if c.Name == name && c.Value != "" {
			return true
		}
	}
	return false
}

// vote is one option's count, as the result service and the analyzer both write it.
type vote struct {
	Key   string `json:"key"`
	Votes int64  `json:"votes"`
}

// tally is the result service's document, on /api/results and in every event.
type tally struct {
	Options []vote `json:"options"`
	Total   int64  `json:"total"`
}

func (t tally) votes() map[string]int64 { return toMap(t.Options) }

// subscribe reads the result service's Server-Sent Events and delivers each tally event until ctx
// ends or the stream does.
func subscribe(t *testing.T, ctx context.Context, url string) <-chan tally {
	t.Helper()
	req := mustRequest(ctx, http.MethodGet, url, "", nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		resp.Body.Close()
		t.Fatalf("GET %s: %s, %q; want 200 and an event stream", url, resp.Status, resp.Header.Get("Content-Type"))
	}
	// Room for minutes of events (the service sends at most a few a second), so the stream is
	// read on while the test is busy voting, as a browser would.
	ch := make(chan tally, 1024)
	done := make(chan struct{})
	t.Cleanup(func() { <-done })
	go func() {
		defer close(done)
		defer close(ch)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		var name string
		var data []string
		for sc.Scan() {
			line := sc.Text()
			if line != "" {
				field, value, _ := strings.Cut(line, ":")
				value = strings.TrimPrefix(value, " ")
				switch field {
				case "event":
					name = value
				case "data":
					data = append(data, value)
				}
				continue
			}
			// A blank line dispatches the event; one without data (retry:, comments) is none.
			if len(data) > 0 && (name == "" || name == "tally") {
				var tl tally
				if err := json.Unmarshal([]byte(strings.Join(data, "\n")), &tl); err != nil {
					t.Errorf("event %q: %v", strings.Join(data, "\n"), err)
					return
				}
				select {
				case ch <- tl:
				case <-ctx.Done():
					return
				}
			}
			name, data = "", nil
		}
	}()
	return ch
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Do(mustRequest(t.Context(), http.MethodGet, url, "", nil))
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

// probeResult is one line of netprobe's output.
type probeResult struct {
	Addr  string `json:"addr"`
	OK    bool   `json:"ok"`
	Error string `json:"error"`
}

func parseProbe(t *testing.T, out []byte) map[string]probeResult {
	t.Helper()
	m := map[string]probeResult{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var r probeResult
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("netprobe output %q: %v", out, err)
		}
		m[r.Addr] = r
	}
	return m
}
