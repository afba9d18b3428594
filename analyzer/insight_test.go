package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-voting-app/voting-app/analyzer/llm"
	"github.com/go-voting-app/voting-app/platform/ballot"
	"github.com/prometheus/client_golang/prometheus"
)

type insightBody struct {
	Narrative      string  `json:"narrative"`
	Source         string  `json:"source"`
	FallbackReason string  `json:"fallback_reason"`
	Figures        figures `json:"figures"`
}

// fakeModel is a local stand-in for an OpenAI-compatible server: the one fake in these tests,
// because the real thing is an external service whose failures must be produced on demand. It
// keeps every request body it receives.
type fakeModel struct {
	srv    *httptest.Server
	calls  atomic.Int64
	mu     sync.Mutex
	bodies []string
}

func newFakeModel(t *testing.T, reply http.HandlerFunc) *fakeModel {
	t.Helper()
	f := &fakeModel{}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.calls.Add(1)
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.bodies = append(f.bodies, string(b))
		f.mu.Unlock()
		reply(w, r)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeModel) client(timeout time.Duration) *llm.Client {
	cfg := llm.Config{BaseURL: f.srv.URL + "/v1", Model: "fake", Timeout: timeout, MaxResponseBytes: 64 << 10, MaxTextChars: 2000}
	return llm.New(cfg, http.DefaultTransport, llm.NewMetrics(prometheus.NewRegistry()))
}

func reply(text string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"choices": []any{map[string]any{
			"index": 0, "message": map[string]any{"role": "assistant", "content": text}}}})
	}
}

// seed casts 81 votes for Cats and 182 for Dogs an hour ago, and lets two known voters flip.
func seed(a *analyzer, voters ...string) {
	a.castMany("a", 81, a.now.Add(-time.Hour))
	a.castMany("b", 182, a.now.Add(-time.Hour))
	for _, v := range voters {
		for i, opt := range []string{"a", "b", "a", "b"} {
			a.cast(opt, a.now.Add(time.Duration(i-30)*time.Minute), v)
		}
	}
}

func TestInsightFromRules(t *testing.T) {
	a := newAnalyzer(t, setup{})
	seed(a)
	in := getJSON[insightBody](a, "/api/v1/insight")
	if in.Source != "rules" || in.FallbackReason != "" {
		t.Errorf("source %q reason %q", in.Source, in.FallbackReason)
	}
	if !strings.HasPrefix(in.Narrative, "Dogs leads Cats by 69.2% to 30.8% of 263 votes") {
		t.Errorf("narrative %q", in.Narrative)
	}
	if in.Figures.TotalVotes != 263 || in.Figures.Leader == nil || *in.Figures.Leader != "b" || !in.Figures.Significant {
		t.Errorf("figures %+v", in.Figures)
	}
}

func TestInsightFromModelSendsFiguresOnly(t *testing.T) {
	model := newFakeModel(t, reply("Dogs are well ahead of Cats.\n\nNothing odd happened."))
	a := newAnalyzer(t, setup{model: model.client(5 * time.Second), ttl: time.Minute})
	voters := []string{string(ballot.NewVoterID()), string(ballot.NewVoterID()), "legacy-voter-0123456789"}
	seed(a, voters...)

	in := getJSON[insightBody](a, "/api/v1/insight")
	if in.Source != "llm" || in.FallbackReason != "" || in.Narrative != "Dogs are well ahead of Cats. Nothing odd happened." {
		t.Fatalf("%+v", in)
	}
	if in.Figures.VoteChangers != 3 {
		t.Errorf("figures count %d vote changers, want 3", in.Figures.VoteChangers)
	}
	if model.calls.Load() != 1 {
		t.Fatalf("%d calls to the model", model.calls.Load())
	}
	sent := model.bodies[0]
	for _, v := range voters {
		if strings.Contains(sent, v) || strings.Contains(sent, strings.TrimSuffix(ballot.Redact(v), "…")) {
			t.Errorf("the request to the model holds voter id %s (or its prefix): %s", v, sent)
		}
	}
	var req struct {
		Model    string `json:"model"`
		Messages []struct {
			Role, Content string
		} `json:"messages"`
	}
	if err := json.Unmarshal([]byte(sent), &req); err != nil || req.Model != "fake" || len(req.Messages) != 2 {
		t.Fatalf("request %s: %v", sent, err)
	}
	var f figures
	if err := json.Unmarshal([]byte(req.Messages[1].Content), &f); err != nil || f.TotalVotes != 266 {
		t.Errorf("user message is not the figures: %q", req.Messages[1].Content)
	}
}

func TestInsightFallsBackToRules(t *testing.T) {
	tests := []struct {
		name   string
		reply  http.HandlerFunc
		reason string
	}{
		{"server error", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusBadGateway) }, "llm_http_status"},
		{"garbage", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "{choices: oops") }, "llm_bad_response"},
		{"empty choices", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{"choices":[]}`) }, "llm_bad_response"},
		{"over-long answer", reply(strings.Repeat("blah ", 1000)), "llm_too_large"},
		{"timeout", func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }, "llm_timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			model := newFakeModel(t, tt.reply)
			a := newAnalyzer(t, setup{model: model.client(300 * time.Millisecond), ttl: time.Minute})
			seed(a)
			in := getJSON[insightBody](a, "/api/v1/insight")
			if in.Source != "rules" || in.FallbackReason != tt.reason || !strings.HasPrefix(in.Narrative, "Dogs leads Cats") {
				t.Errorf("%+v", in)
			}
			// The failure is cached like an answer: a broken model is not asked again at once.
			again := getJSON[insightBody](a, "/api/v1/insight")
			if again.FallbackReason != tt.reason || model.calls.Load() != 1 {
				t.Errorf("second insight %+v after %d calls", again, model.calls.Load())
			}
			// The second request, same data, same moment, is answered whole from the API's own
			// cache (answers.go) and never reaches the insight.
			if n := a.counter("analyzer_insights_total", map[string]string{"source": "rules", "reason": tt.reason}); n != 1 {
				t.Errorf("analyzer_insights_total{source=rules,reason=%s} = %v, want 1", tt.reason, n)
			}
		})
	}
}

// A storm of refreshes with the same figures costs the model one call; new figures cost one more.
func TestInsightCacheSharesCalls(t *testing.T) {
	model := newFakeModel(t, reply("All quiet."))
	a := newAnalyzer(t, setup{model: model.client(5 * time.Second), ttl: time.Minute})
	seed(a)
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if resp, body := a.get("/api/v1/insight"); resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"source":"llm"`) {
				t.Errorf("%d %s", resp.StatusCode, body)
			}
		})
	}
	wg.Wait()
	if n := model.calls.Load(); n != 1 {
		t.Errorf("20 concurrent insights made %d calls, want 1", n)
	}
	a.castMany("a", 1, a.now.Add(-time.Minute))
	getJSON[insightBody](a, "/api/v1/insight")
	if n := model.calls.Load(); n != 2 {
		t.Errorf("after the figures changed: %d calls, want 2", n)
	}
}

// counter reads a counter of the analyzer's registry by name and labels, 0 when it has no such series.
func (a *analyzer) counter(name string, labels map[string]string) float64 {
	a.t.Helper()
	mfs, err := a.reg.Gather()
	if err != nil {
		a.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if have[k] != v {
					continue series
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}
