package web

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestInstrumentLabelsByRoutePattern(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	r := chi.NewRouter()
	r.Use(Instrument(log, m), Recover(log))
	r.Get("/voters/{id}", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	r.Get("/panic", func(w http.ResponseWriter, r *http.Request) { panic("boom") })

	for _, path := range []string{"/voters/0123456789abcdef", "/voters/fedcba", "/nowhere", "/panic"} {
		r.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, path, nil))
	}
	tests := []struct {
		route, code string
		want        float64
	}{
		{"/voters/{id}", "418", 2},
		{"unmatched", "404", 1},
		{"/panic", "500", 1},
	}
	for _, tt := range tests {
		got := testutil.ToFloat64(m.requests.WithLabelValues(tt.route, "GET", tt.code))
		if got != tt.want {
			t.Errorf("requests{route=%q,code=%s} = %v, want %v", tt.route, tt.code, got, tt.want)
		}
	}
	if strings.Contains(logs.String(), "0123456789abcdef") {
		t.Error("the access log contains a raw path; it must log the route pattern only")
	}
	var line map[string]any
	first, _, _ := strings.Cut(logs.String(), "\n")
	if err := json.Unmarshal([]byte(first), &line); err != nil || line["route"] != "/voters/{id}" || line["status"] != float64(418) {
		t.Errorf("access log line %q lacks route/status", first)
	}
	if !strings.Contains(logs.String(), `"panic":"boom"`) {
		t.Error("the panic was not logged")
	}
}

func TestDecode(t *testing.T) {
	type body struct {
		Vote string `json:"vote"`
	}
	tests := []struct {
		name, in string
		wantErr  string
	}{
		{"ok", `{"vote":"a"}`, ""},
		{"unknown field", `{"vote":"a","x":1}`, "unknown field"},
		{"trailing data", `{"vote":"a"} {}`, "after the JSON value"},
		{"not json", `vote=a`, "decode json"},
		{"too large", `{"vote":"` + strings.Repeat("a", 100) + `"}`, "too large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tt.in))
			v, err := Decode[body](httptest.NewRecorder(), req, 64)
			if tt.wantErr == "" {
				if err != nil || v.Vote != "a" {
					t.Fatalf("got %+v, %v", v, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestHeadAsGet(t *testing.T) {
	r := chi.NewRouter()
	r.Use(HeadAsGet)
	answer := func(name string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Handler", name)
			w.Header().Set("X-Method", r.Method)
		}
	}
	r.Get("/page", answer("get page"))
	r.Get("/own", answer("get own"))
	r.Head("/own", answer("head own"))
	r.Post("/form", answer("post form"))
	r.Route("/api", func(r chi.Router) { r.Get("/items/{id}", answer("get item")) })

	for _, tt := range []struct {
		method, path      string
		code              int
		handler, asMethod string
	}{
		{http.MethodHead, "/page", http.StatusOK, "get page", http.MethodHead},
		{http.MethodGet, "/page", http.StatusOK, "get page", http.MethodGet},
		{http.MethodHead, "/own", http.StatusOK, "head own", http.MethodHead},
		{http.MethodHead, "/api/items/7", http.StatusOK, "get item", http.MethodHead},
		{http.MethodHead, "/form", http.StatusMethodNotAllowed, "", ""},
		{http.MethodHead, "/nothing", http.StatusNotFound, "", ""},
		{http.MethodPost, "/page", http.StatusMethodNotAllowed, "", ""},
	} {
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
		if rec.Code != tt.code || rec.Header().Get("X-Handler") != tt.handler || rec.Header().Get("X-Method") != tt.asMethod {
			t.Errorf("%s %s: %d by %q as %q; want %d by %q as %q", tt.method, tt.path,
				rec.Code, rec.Header().Get("X-Handler"), rec.Header().Get("X-Method"), tt.code, tt.handler, tt.asMethod)
		}
	}
}
