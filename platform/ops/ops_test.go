package ops

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestReadiness(t *testing.T) {
	fail := errors.New("connection refused")
	tests := []struct {
		name   string
		checks []Check
		drain  bool
		code   int
		body   string
	}{
		{"no checks", nil, false, 200, `"status":"ok"`},
		{"all pass", []Check{{"redis", func(context.Context) error { return nil }}}, false, 200, `"redis":"ok"`},
		{"one fails", []Check{
			{"redis", func(context.Context) error { return nil }},
			{"postgres", func(context.Context) error { return fail }},
		}, false, 503, `"postgres":"connection refused"`},
		{"draining", []Check{{"redis", func(context.Context) error { return nil }}}, true, 503, `"shutdown":"draining"`},
		{"a hanging check times out", []Check{{"slow", func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }}}, false, 503, `"slow":"context deadline exceeded"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := NewProbe(tt.checks...)
			p.timeout = 50e6
			if tt.drain {
				p.Drain()
			}
			h := Handler(p, NewRegistry("test"))
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
			if rec.Code != tt.code || !strings.Contains(rec.Body.String(), tt.body) {
				t.Fatalf("got %d %s, want %d containing %s", rec.Code, rec.Body, tt.code, tt.body)
			}
			rec = httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/livez", nil))
			if rec.Code != 200 {
				t.Fatalf("/livez = %d; liveness must not depend on dependencies", rec.Code)
			}
		})
	}
}

func TestMetricsEndpoint(t *testing.T) {
	rec := httptest.NewRecorder()
	Handler(NewProbe(), NewRegistry("svc")).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	for _, want := range []string{`build_info{revision="unknown",service="svc",version="dev"} 1`, "go_goroutines", "process_resident_memory_bytes"} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestHealthcheck(t *testing.T) {
	ready := true
	srv := httptest.NewServer(Handler(NewProbe(Check{"db", func(context.Context) error {
		if !ready {
			return errors.New("down")
		}
		return nil
	}}), NewRegistry("t")))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))

	var out bytes.Buffer
	if err := Healthcheck(context.Background(), ":"+port, &out); err != nil {
		t.Fatalf("healthy service: %v", err)
	}
	if !strings.Contains(out.String(), "db: ok") {
		t.Errorf("output %q", out.String())
	}
	ready = false
	out.Reset()
	if err := Healthcheck(context.Background(), ":"+port, &out); err == nil || !strings.Contains(out.String(), "db: down") {
		t.Fatalf("unhealthy service: err %v, output %q", err, out.String())
	}
	if err := Healthcheck(context.Background(), "127.0.0.1:1", &out); err == nil {
		t.Fatal("nothing listening, yet the healthcheck passed")
	}
	if err := Healthcheck(context.Background(), "no-port", &out); err == nil {
		t.Fatal("a malformed OPS_ADDR passed")
	}
}
