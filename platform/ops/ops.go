// Package ops serves the operations surface every service has on its internal port: /livez (the
// process is alive), /readyz (its dependencies answer), /metrics (Prometheus), and the client side
// of it, the healthcheck subcommand that container HEALTHCHECKs and probes run.
package ops

import (
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-voting-app/voting-app/platform/buildinfo"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Check is one dependency probe for /readyz. It should return quickly; it gets a short deadline.
type Check struct {
	Name string
	Fn   func(context.Context) error
}

// Probe answers liveness and readiness.
type Probe struct {
	checks   []Check
	timeout  time.Duration
	draining atomic.Bool
}

// NewProbe returns a probe that is ready while every check passes.
func NewProbe(checks ...Check) *Probe {
	return &Probe{checks: checks, timeout: 2 * time.Second}
}

// Drain makes readiness fail from now on: the process is shutting down and should get no new work.
func (p *Probe) Drain() { p.draining.Store(true) }

// Ready runs every check in parallel and returns each one's result ("ok" or the error text).
func (p *Probe) Ready(ctx context.Context) (bool, map[string]string) {
	results := make(map[string]string, len(p.checks)+1)
	if p.draining.Load() {
		results["shutdown"] = "draining"
	}
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	for _, c := range p.checks {
		wg.Go(func() {
			msg := "ok"
			if err := c.Fn(ctx); err != nil {
				msg = err.Error()
			}
			mu.Lock()
			results[c.Name] = msg
			mu.Unlock()
		})
	}
	wg.Wait()
	for _, msg := range results {
		if msg != "ok" {
			return false, results
		}
	}
	return true, results
}

// NewRegistry returns a metrics registry with the Go runtime and process collectors and a
// build_info gauge for the service. Each process has its own registry: nothing global.
func NewRegistry(service string) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	info := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "build_info",
		Help:        "Always 1; labels say which build is running.",
		ConstLabels: prometheus.Labels{"service": service, "version": buildinfo.Version, "revision": buildinfo.Revision},
	})
	info.Set(1)
	reg.MustRegister(info)
	return reg
}

// Handler serves /livez, /readyz and /metrics.
func Handler(p *Probe, reg *prometheus.Registry) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /livez", func(w http.ResponseWriter, r *http.Request) {
		writeStatus(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ok, results := p.Ready(r.Context())
		status, code := "ok", http.StatusOK
		if !ok {
			status, code = "unavailable", http.StatusServiceUnavailable
		}
		writeStatus(w, code, struct {
			Status string            `json:"status"`
			Checks map[string]string `json:"checks"`
		}{status, results})
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	return mux
}

func writeStatus(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.Encode(v)
}

// sortedKeys is used by tests and the healthcheck output to print results in a stable order.
func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
