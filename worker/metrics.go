package main

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	batchSize    prometheus.Histogram
	batchSeconds prometheus.Histogram
	entries      prometheus.Counter
	applied      prometheus.Counter
	deadLetters  *prometheus.CounterVec
	retries      *prometheus.CounterVec
	reclaimed    prometheus.Counter
	legacyMoved  prometheus.Counter
	trimmed      prometheus.Counter
	lag          prometheus.Gauge
	pending      prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "worker_batch_size",
			Help:    "Stream entries per applied batch.",
			Buckets: []float64{1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000},
		}),
		batchSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "worker_batch_duration_seconds",
			Help:    "Time from decoding a batch to its acknowledgement.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}),
		entries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "worker_entries_acknowledged_total",
			Help: "Stream entries acknowledged after their batch committed (dead letters included).",
		}),
		applied: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "worker_votes_applied_total",
			Help: "Voters whose stored vote was inserted or replaced by a newer one.",
		}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "worker_dead_letters_total",
			Help: "Malformed entries moved to the dead-letter stream, by kind.",
		}, []string{"kind"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "worker_retries_total",
			Help: "Failed attempts against a dependency that were retried.",
		}, []string{"dependency"}),
		reclaimed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "worker_entries_reclaimed_total",
			Help: "Pending entries taken over from a dead consumer or a previous run.",
		}),
		legacyMoved: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "worker_legacy_entries_moved_total",
			Help: "Classic-format votes moved from the Redis list onto the stream.",
		}),
		trimmed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "worker_stream_trimmed_total",
			Help: "Acknowledged entries removed from the stream.",
		}),
		lag: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "worker_stream_lag",
			Help: "Entries on the stream not yet delivered to the group (-1: unknown).",
		}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "worker_stream_pending",
			Help: "Entries delivered to the group but not yet acknowledged.",
		}),
	}
	reg.MustRegister(m.batchSize, m.batchSeconds, m.entries, m.applied, m.deadLetters, m.retries,
		m.reclaimed, m.legacyMoved, m.trimmed, m.lag, m.pending)
	return m
}
