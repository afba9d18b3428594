package main

import "github.com/prometheus/client_golang/prometheus"

// Triggers of a tally query, the values of the "trigger" label.
const (
	triggerNotify  = "notify"  // the database announced a change
	triggerRecheck = "recheck" // nothing heard for a while: the safety net
	triggerConnect = "connect" // the listener (re)connected and may have missed changes
)

// metrics are the result service's own metrics; the HTTP ones come from web.NewMetrics.
type metrics struct {
	clients        prometheus.Gauge
	maxStreams     prometheus.Gauge
	rejected       prometheus.Counter
	clientLimited  prometheus.Counter
	eventsSent     prometheus.Counter
	updatesDropped prometheus.Counter
	queries        *prometheus.CounterVec
	queryErrors    prometheus.Counter
	notifications  prometheus.Counter
	coalesced      prometheus.Counter
	tallyChanges   prometheus.Counter
	reconnects     prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		clients: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "result_sse_clients",
			Help: "Browsers connected to /events now.",
		}),
		maxStreams: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "result_sse_max_streams",
			Help: "SSE_MAX_STREAMS: the streams this instance holds at most; result_sse_clients near it means the next browsers get a 503.",
		}),
		rejected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "result_sse_rejected_total",
			Help: "Streams refused with 503 because the instance already held SSE_MAX_STREAMS.",
		}),
		clientLimited: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "result_sse_client_limited_total",
			Help: "Streams refused with 429 because their client address already held SSE_MAX_STREAMS_PER_CLIENT.",
		}),
		eventsSent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "result_sse_events_sent_total",
			Help: "Tally events written to browsers (heartbeats not included).",
		}),
		updatesDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "result_sse_updates_dropped_total",
			Help: "Tally updates replaced by a newer one before a slow browser took them.",
		}),
		queries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "result_tally_queries_total",
			Help: "Tally queries by trigger: notify (a change was announced), recheck (periodic safety net), connect (after (re)connecting).",
		}, []string{"trigger"}),
		queryErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "result_tally_query_errors_total",
			Help: "Tally queries that failed; the listener reconnects after each.",
		}),
		notifications: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "result_tally_notifications_total",
			Help: "vote_totals_changed notifications received.",
		}),
		coalesced: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "result_tally_notifications_coalesced_total",
			Help: "Notifications that arrived while a query was already due, and were answered by it.",
		}),
		tallyChanges: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "result_tally_changes_total",
			Help: "Queries that found a tally different from the last one, and were sent to browsers.",
		}),
		reconnects: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "result_listener_reconnects_total",
			Help: "Times the listener dialled Postgres again after losing or failing to get its connection.",
		}),
	}
	for _, t := range []string{triggerNotify, triggerRecheck, triggerConnect} {
		m.queries.WithLabelValues(t) // export zeros, so rate() works from the first scrape
	}
	reg.MustRegister(m.clients, m.maxStreams, m.rejected, m.clientLimited, m.eventsSent, m.updatesDropped, m.queries, m.queryErrors,
		m.notifications, m.coalesced, m.tallyChanges, m.reconnects)
	return m
}
