package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
)

func TestProblemsRespond(t *testing.T) {
	errBusy := errors.New("busy")
	table := Problems(func(err error) Problem {
		switch {
		case errors.Is(err, errBusy):
			p := NewProblem(http.StatusServiceUnavailable, "Try again shortly.")
			p.RetryAfter = 5
			return p
		case errors.Is(err, ErrMethodNotAllowed):
			p := NewProblem(http.StatusMethodNotAllowed, "Only GET.")
			p.Allow = "GET, HEAD"
			return p
		case err.Error() == "bad":
			p := NewProblem(http.StatusBadRequest, "window: too long")
			p.Errors = []FieldError{{Parameter: "window", Detail: "too long"}}
			return p
		}
		return NewProblem(http.StatusInternalServerError, "Something went wrong; it has been logged.")
	})
	tests := []struct {
		name       string
		err        error
		status     int
		header     string // "Name: value" that must be set
		logLevel   string // "" when nothing may be logged
		notInBody  string
		wantFields []string
	}{
		{"client error", errors.New("bad"), 400, "", "", "", []string{`"errors":[{"parameter":"window","detail":"too long"}]`}},
		{"unavailable", errBusy, 503, "Retry-After: 5", "", "", nil},
		{"method", ErrMethodNotAllowed, 405, "Allow: GET, HEAD", "", "", nil},
		{"ours: logged, never shown", errors.New("pq: password=hunter2"), 500, "", "ERROR", "hunter2", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			log := slog.New(slog.NewTextHandler(&logs, nil))
			w := httptest.NewRecorder()
			table.Respond(log, w, httptest.NewRequest(http.MethodGet, "/api/x?y=1", nil), tt.err)
			res := w.Result()
			body, _ := io.ReadAll(res.Body)
			if res.StatusCode != tt.status || res.Header.Get("Content-Type") != "application/problem+json" ||
				res.Header.Get("Cache-Control") != "no-store" {
				t.Fatalf("%d %q %q", res.StatusCode, res.Header.Get("Content-Type"), res.Header.Get("Cache-Control"))
			}
			if name, value, ok := strings.Cut(tt.header, ": "); ok && res.Header.Get(name) != value {
				t.Errorf("%s: %q, want %q", name, res.Header.Get(name), value)
			}
			var p map[string]any
			if err := json.Unmarshal(body, &p); err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{"type", "title", "status", "detail", "instance"} {
				if _, ok := p[k]; !ok {
					t.Errorf("no %q in %s", k, body)
				}
			}
			if p["instance"] != "/api/x" || p["type"] != "about:blank" || p["status"] != float64(tt.status) {
				t.Errorf("body %s", body)
			}
			for _, f := range tt.wantFields {
				if !strings.Contains(string(body), f) {
					t.Errorf("body %s lacks %s", body, f)
				}
			}
			if tt.notInBody != "" && strings.Contains(string(body), tt.notInBody) {
				t.Errorf("body shows the internal error: %s", body)
			}
			if tt.logLevel == "" && logs.Len() > 0 || tt.logLevel != "" && !strings.Contains(logs.String(), "level="+tt.logLevel) {
				t.Errorf("log %q, want level %q", logs.String(), tt.logLevel)
			}
		})
	}
}

func TestAssets(t *testing.T) {
	a, err := NewAssets(fstest.MapFS{
		"style.css":   {Data: []byte("body{}")},
		"results.js":  {Data: []byte("let x")},
		"favicon.svg": {Data: []byte("<svg/>")},
	}, "/static/")
	if err != nil {
		t.Fatal(err)
	}
	css := a.Path("style.css")
	if !strings.HasPrefix(css, "/static/style.") || !strings.HasSuffix(css, ".css") || len(css) != len("/static/style.")+12+len(".css") {
		t.Fatalf("Path = %q, want /static/style.<12 hex>.css", css)
	}
	notFound := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "nf", 404) })
	h := a.Serve(notFound)
	tests := []struct {
		path, ctype, cache string
		status             int
	}{
		{css, "text/css; charset=utf-8", "public, max-age=31536000, immutable", 200},
		{a.Path("results.js"), "text/javascript; charset=utf-8", "public, max-age=31536000, immutable", 200},
		{a.Path("favicon.svg"), "image/svg+xml", "public, max-age=31536000, immutable", 200},
		// Another build's hash (a rolling update): the current file, not cached for long.
		{"/static/style.000000000000.css", "text/css; charset=utf-8", "no-cache", 200},
		{"/static/style.css", "text/plain; charset=utf-8", "", 404},
		{"/static/missing.000000000000.css", "text/plain; charset=utf-8", "", 404},
	}
	for _, tt := range tests {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, tt.path, nil))
		if w.Code != tt.status || w.Header().Get("Content-Type") != tt.ctype || w.Header().Get("Cache-Control") != tt.cache {
			t.Errorf("GET %s = %d %q %q", tt.path, w.Code, w.Header().Get("Content-Type"), w.Header().Get("Cache-Control"))
		}
	}
	// A revalidation with the ETag is a 304.
	w := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, css, nil)
	h.ServeHTTP(w, req)
	req.Header.Set("If-None-Match", w.Header().Get("ETag"))
	w = httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != http.StatusNotModified {
		t.Errorf("conditional GET = %d, want 304", w.Code)
	}
}
