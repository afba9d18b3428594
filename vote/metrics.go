package main

import (
	"time"

	"github.com/go-voting-app/voting-app/platform/ballot"
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the vote service's own metrics; the HTTP ones come from platform/web.
type metrics struct {
	votes    *prometheus.CounterVec
	failures *prometheus.CounterVec
	appends  *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer, opts ballot.Options) *metrics {
	m := &metrics{
		votes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "votes_cast_total",
			Help: "Votes put on the stream, by option key.",
		}, []string{"option"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vote_failures_total",
			Help: "Votes refused or not recorded, by reason.",
		}, []string{"reason"}),
		appends: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "vote_append_duration_seconds",
			Help:    "Time to append a vote to the Redis stream, by result (ok, error).",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"result"}),
	}
	reg.MustRegister(m.votes, m.failures, m.appends)
	// Every series exists from the start, so rate() and alerts see a 0 rather than nothing.
	for _, o := range opts {
		m.votes.WithLabelValues(o.Key)
	}
	for _, r := range failureReasons {
		m.failures.WithLabelValues(r)
	}
	return m
}

// watch exports how many clients the vote limit keeps a bucket for: its memory, in effect.
func (m *metrics) watch(reg prometheus.Registerer, l *clientLimiter) {
	if l == nil {
		return
	}
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "vote_rate_limit_clients",
		Help: "Client addresses the vote limit holds a bucket for (those that voted within the last refill time).",
	}, func() float64 { return float64(l.clients()) }))
}

func (m *metrics) cast(option string) { m.votes.WithLabelValues(option).Inc() }

func (m *metrics) failed(err error) { m.failures.WithLabelValues(classify(err).reason).Inc() }

func (m *metrics) observeAppend(d time.Duration, err error) {
	result := "ok"
	if err != nil {
		result = "error"
	}
	m.appends.WithLabelValues(result).Observe(d.Seconds())
}
