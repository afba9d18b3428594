package main

import "time"

// throttle decides when the listener queries the tally. A notification is answered at once if the
// last query is at least minInterval old (a lone vote shows without delay), otherwise by one query
// when minInterval has passed: a burst of thousands of commits costs at most one query per
// minInterval per instance. With no notification for recheck, it asks for a query anyway, as a
// safety net for a notification that never arrived.
type throttle struct {
	minInterval time.Duration
	recheck     time.Duration
	last        time.Time // start of the last query
	pending     bool      // a notification arrived after the last query started
}

// notify records a notification. It reports whether the notification was coalesced: another one
// was already waiting for the same query.
func (t *throttle) notify() (coalesced bool) {
	coalesced = t.pending
	t.pending = true
	return coalesced
}

// ran records that a query started at now. It covers every notification received before it.
func (t *throttle) ran(now time.Time) {
	t.last = now
	t.pending = false
}

// next says what to do at now: query at once (with the trigger to count it under), or wait for a
// notification until the returned time.
func (t *throttle) next(now time.Time) (trigger string, until time.Time) {
	due := t.last.Add(t.recheck)
	if t.pending {
		soonest := t.last.Add(t.minInterval)
		if !now.Before(soonest) {
			return triggerNotify, time.Time{}
		}
		due = soonest
	} else if !now.Before(due) {
		return triggerRecheck, time.Time{}
	}
	return "", due
}
