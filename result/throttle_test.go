package main

import (
	"testing"
	"time"
)

func TestThrottle(t *testing.T) {
	const (
		minInterval = 250 * time.Millisecond
		recheck     = 10 * time.Second
	)
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return t0.Add(d) }

	// Each step happens at an offset from t0, after a query that ran at t0.
	type step struct {
		at      time.Duration
		do      string // "notify", "next", "ran"
		trigger string // for next: the expected trigger ("" = wait)
		until   time.Duration
		merged  bool // for notify: expected coalesced
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"quiet: wait for the re-check", []step{
			{at: 0, do: "next", until: recheck},
			{at: recheck - time.Millisecond, do: "next", until: recheck},
		}},
		{"quiet: re-check when due", []step{
			{at: recheck, do: "next", trigger: triggerRecheck},
		}},
		{"a lone notification after a quiet spell is answered at once", []step{
			{at: time.Second, do: "notify"},
			{at: time.Second, do: "next", trigger: triggerNotify},
		}},
		{"a notification right after a query waits for the interval", []step{
			{at: 10 * time.Millisecond, do: "notify"},
			{at: 10 * time.Millisecond, do: "next", until: minInterval},
			{at: minInterval, do: "next", trigger: triggerNotify},
		}},
		{"a burst is coalesced into one query", []step{
			{at: 10 * time.Millisecond, do: "notify"},
			{at: 20 * time.Millisecond, do: "notify", merged: true},
			{at: 30 * time.Millisecond, do: "notify", merged: true},
			{at: 40 * time.Millisecond, do: "next", until: minInterval},
			{at: minInterval, do: "next", trigger: triggerNotify},
			{at: minInterval, do: "ran"},
			{at: minInterval, do: "next", until: minInterval + recheck},
		}},
		{"a notification during a query needs another one", []step{
			{at: time.Second, do: "notify"},
			{at: time.Second, do: "next", trigger: triggerNotify},
			{at: time.Second, do: "ran"},
			{at: time.Second + time.Millisecond, do: "notify"},
			{at: time.Second + time.Millisecond, do: "next", until: time.Second + minInterval},
		}},
		{"a pending notification wins over a due re-check", []step{
			{at: recheck, do: "notify"},
			{at: recheck, do: "next", trigger: triggerNotify},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			th := throttle{minInterval: minInterval, recheck: recheck}
			th.ran(t0)
			for i, s := range tt.steps {
				switch s.do {
				case "notify":
					if got := th.notify(); got != s.merged {
						t.Fatalf("step %d: notify coalesced = %v, want %v", i, got, s.merged)
					}
				case "ran":
					th.ran(at(s.at))
				case "next":
					trigger, until := th.next(at(s.at))
					if trigger != s.trigger {
						t.Fatalf("step %d: trigger %q, want %q", i, trigger, s.trigger)
					}
					if trigger == "" && !until.Equal(at(s.until)) {
						t.Fatalf("step %d: wait until +%s, want +%s", i, until.Sub(t0), s.until)
					}
				}
			}
		})
	}
}
