package main

import (
	"slices"

	"github.com/go-voting-app/voting-app/platform/queue"
	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	batchSize    prometheus.Histogram
	batchSeconds prometheus.Histogram
	entries      prometheus.Counter
	applied      prometheus.Counter
	deadLetters  *prometheus.CounterVec
	retries      *prometheus.CounterVec
	reclaimed    prometheus.Counter
	moved        prometheus.Counter
	inbox        prometheus.Gauge
	trimmed      prometheus.Counter
	lag          prometheus.Gauge
	pending      prometheus.Gauge
	oldestAge    prometheus.Gauge
	consecutive  *prometheus.GaugeVec
	stalled      prometheus.Gauge
	panics       prometheus.Counter
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
			Help: "Entries moved to the dead-letter stream, by kind: a decoding kind of package queue, rejected_by_database or panic.",
		}, []string{"kind"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "worker_retries_total",
			Help: "Failed attempts against a dependency that were retried.",
		}, []string{"dependency"}),
		reclaimed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "worker_entries_reclaimed_total",
			Help: "Pending entries taken over from a dead consumer or a previous run.",
		}),
		moved: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "worker_votes_moved_total",
			Help: "Votes moved from the inbox (and the classic app's list) onto the stream.",
		}),
		inbox: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "worker_inbox_votes",
			Help: "Votes waiting on the inbox to be moved onto the stream.",
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
		oldestAge: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "worker_oldest_pending_age_seconds",
			Help: "Age of the oldest vote not yet acknowledged: on the inbox (by its cast time) or on the stream, delivered or not (by its stream time); 0 when none.",
		}),
		consecutive: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "worker_consecutive_failures",
			Help: "Failed attempts against a dependency since its last success.",
		}, []string{"dependency"}),
		stalled: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "worker_stalled",
			Help: "1 while nothing has been committed for STALL_AFTER although entries wait for this worker.",
		}),
		panics: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "worker_batch_panics_total",
			Help: "Panics recovered while handling batches; the worker and its loops went on.",
		}),
	}
	for _, d := range []string{"postgres", "redis"} {
		m.consecutive.WithLabelValues(d)
		m.retries.WithLabelValues(d)
	}
	// Every kind from zero, so that the first dead letter of a kind is an increase a rule sees.
	for _, k := range append(slices.Clone(queue.Kinds), kindRejected, kindPanic) {
		m.deadLetters.WithLabelValues(k)
	}
	reg.MustRegister(m.batchSize, m.batchSeconds, m.entries, m.applied, m.deadLetters, m.retries,
		m.reclaimed, m.moved, m.inbox, m.trimmed, m.lag, m.pending, m.oldestAge, m.consecutive, m.stalled, m.panics)
	return m
}
