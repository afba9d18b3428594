package llm_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-voting-app/voting-app/analyzer/llm"
	"github.com/go-voting-app/voting-app/platform/config"
	"github.com/prometheus/client_golang/prometheus"
)

// A fake model is the one stand-in the analyzer's tests use: the real thing is an external service
// whose failures have to be produced on demand.
func fakeModel(t *testing.T, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func answer(text string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{
			"id": "chatcmpl-1", "object": "chat.completion",
			"choices": []any{map[string]any{"index": 0, "finish_reason": "stop",
				"message": map[string]any{"role": "assistant", "content": text}}},
		})
	}
}

func client(t *testing.T, url string, timeout time.Duration) (*llm.Client, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	cfg := llm.Config{
		BaseURL: url + "/v1", Model: "tiny", APIKey: "sk-test", Timeout: timeout,
		MaxResponseBytes: 4 << 10, MaxTextChars: 200,
	}
	return llm.New(cfg, http.DefaultTransport, llm.NewMetrics(reg)), reg
}

func TestCompleteSendsTheChatShape(t *testing.T) {
	var got struct {
		path, auth, ctype string
		body              map[string]any
	}
	srv := fakeModel(t, func(w http.ResponseWriter, r *http.Request) {
		got.path, got.auth, got.ctype = r.URL.Path, r.Header.Get("Authorization"), r.Header.Get("Content-Type")
		json.NewDecoder(r.Body).Decode(&got.body)
		answer("  Cats lead.\n\nDogs   trail. ")(w, r)
	})
	c, reg := client(t, srv.URL, 5*time.Second)
	text, err := c.Complete(context.Background(), "be brief", `{"total":3}`)
	if err != nil {
		t.Fatal(err)
	}
	if text != "Cats lead. Dogs trail." {
		t.Errorf("text %q: want whitespace collapsed into one paragraph", text)
	}
	if got.path != "/v1/chat/completions" || got.auth != "Bearer sk-test" || got.ctype != "application/json" {
		t.Errorf("request: %+v", got)
	}
	msgs, _ := got.body["messages"].([]any)
	if got.body["model"] != "tiny" || len(msgs) != 2 {
		t.Fatalf("body %v", got.body)
	}
	if m := msgs[1].(map[string]any); m["role"] != "user" || m["content"] != `{"total":3}` {
		t.Errorf("user message %v", m)
	}
	if n := calls(t, reg, "ok"); n != 1 {
		t.Errorf("ok calls = %v, want 1", n)
	}
}

func TestCompleteFailures(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc
		outcome string
	}{
		{"timeout", func(w http.ResponseWriter, r *http.Request) {
			// The server notices a client hanging up only once the body has been read.
			io.Copy(io.Discard, r.Body)
			<-r.Context().Done()
		}, llm.OutcomeTimeout},
		{"server error", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, `{"error":{"message":"overloaded"}}`, http.StatusInternalServerError)
		}, llm.OutcomeHTTPStatus},
		{"unauthorised", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusUnauthorized)
		}, llm.OutcomeHTTPStatus},
		{"redirect is not followed", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://127.0.0.1:1/elsewhere", http.StatusTemporaryRedirect)
		}, llm.OutcomeHTTPStatus},
		{"garbage", func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "<html>not json")
		}, llm.OutcomeBadResponse},
		{"wrong shape", func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, `{"choices":"many"}`)
		}, llm.OutcomeBadResponse},
		{"empty choices", func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, `{"choices":[]}`)
		}, llm.OutcomeBadResponse},
		{"null content", func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, `{"choices":[{"message":{"role":"assistant","content":null}}]}`)
		}, llm.OutcomeBadResponse},
		{"blank answer", answer(" \n\t "), llm.OutcomeBadResponse},
		{"oversized body", func(w http.ResponseWriter, r *http.Request) {
			// Valid JSON, but far beyond the 4 KiB the client reads.
			io.WriteString(w, `{"choices":[{"message":{"content":"ok"}}],"padding":"`+strings.Repeat("x", 64<<10)+`"}`)
		}, llm.OutcomeTooLarge},
		{"over-long answer", answer(strings.Repeat("word ", 100)), llm.OutcomeTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := fakeModel(t, tt.handler)
			c, reg := client(t, srv.URL, 200*time.Millisecond)
			text, err := c.Complete(context.Background(), "sys", "user")
			e, ok := errors.AsType[*llm.Error](err)
			if !ok || e.Outcome != tt.outcome {
				t.Fatalf("got %q, %v; want an *llm.Error with outcome %s", text, err, tt.outcome)
			}
			if text != "" {
				t.Errorf("text %q on failure", text)
			}
			if n := calls(t, reg, tt.outcome); n != 1 {
				t.Errorf("%s calls = %v, want 1", tt.outcome, n)
			}
		})
	}
}

func TestCompleteUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there any more
	c, _ := client(t, url, time.Second)
	_, err := c.Complete(context.Background(), "sys", "user")
	if e, ok := errors.AsType[*llm.Error](err); !ok || e.Outcome != llm.OutcomeUnreachable {
		t.Fatalf("got %v, want outcome unreachable", err)
	}
}

func TestConfigFromEnv(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		enabled bool
		wantErr string
	}{
		{"off by default", map[string]string{}, false, ""},
		{"on", map[string]string{"LLM_BASE_URL": "http://llm:8000/v1/", "LLM_MODEL": "m"}, true, ""},
		{"model required", map[string]string{"LLM_BASE_URL": "http://llm:8000/v1"}, true, "LLM_MODEL"},
		{"not a URL", map[string]string{"LLM_BASE_URL": "llm:8000", "LLM_MODEL": "m"}, true, "LLM_BASE_URL"},
		{"no credentials in the URL", map[string]string{"LLM_BASE_URL": "https://u:p@llm/v1", "LLM_MODEL": "m"}, true, "LLM_BASE_URL"},
		{"no query in the URL", map[string]string{"LLM_BASE_URL": "https://llm/v1?key=k", "LLM_MODEL": "m"}, true, "LLM_BASE_URL"},
		{"bad timeout", map[string]string{"LLM_BASE_URL": "http://llm/v1", "LLM_MODEL": "m", "LLM_TIMEOUT": "2h"}, true, "LLM_TIMEOUT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := config.New(func(k string) string { return tt.env[k] })
			cfg := llm.ConfigFromEnv(env)
			err := errors.Join(env.Err(), cfg.Validate())
			if cfg.Enabled() != tt.enabled {
				t.Errorf("enabled = %v", cfg.Enabled())
			}
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("err = %v, want mention of %q", err, tt.wantErr)
			}
			if tt.enabled && strings.HasSuffix(cfg.BaseURL, "/") {
				t.Errorf("base URL %q keeps its trailing slash", cfg.BaseURL)
			}
		})
	}
}

// calls reads analyzer_llm_calls_total{outcome} from the registry.
func calls(t *testing.T, reg *prometheus.Registry, outcome string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "analyzer_llm_calls_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "outcome" && l.GetValue() == outcome {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
