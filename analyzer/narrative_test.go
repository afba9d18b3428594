package main

import (
	"testing"
	"time"

	"github.com/go-voting-app/voting-app/platform/ballot"
)

func TestNarrate(t *testing.T) {
	opts, _ := ballot.NewOptions("Cats", "Dogs")
	shift := func(v float64) *float64 { return &v }
	momentumOf := func(recent map[string]int64, shifts ...*float64) momentum {
		m := momentum{Options: make([]optionMomentum, len(opts))}
		for i, o := range opts {
			m.Options[i] = optionMomentum{Option: o, RecentVotes: recent[o.Key]}
			if i < len(shifts) {
				m.Options[i].Shift = shifts[i]
			}
			m.RecentTotal += recent[o.Key]
		}
		return m
	}
	calm := anomalies{}
	tests := []struct {
		name   string
		totals map[string]int64
		m      momentum
		a      anomalies
		want   string
	}{
		{"no votes", nil, momentumOf(nil), calm, "No votes have been cast yet, so there is nothing to report."},
		{"significant lead", map[string]int64{"a": 81, "b": 182}, momentumOf(nil), calm,
			"Dogs leads Cats by 69.2% to 30.8% of 263 votes, a margin of 38.4 points (95% interval +26.8 to +48.9). " +
				"The lead is statistically significant, and the chance that Dogs stays ahead is above 99.9%. " +
				"No votes were cast in the last 5 minutes. " +
				"Nothing unusual happened in the last 6 hours: no bursts of votes and no voters changing their vote repeatedly."},
		// 11 of 20: Wilson [0.3421, 0.7418], so the margin's interval is [2·0.3421-1, 2·0.7418-1];
		// P(Binomial(21, ½) ≤ 11) = ½ + C(21,11)/2²¹ = 0.5 + 0.1682.
		{"lead within the margin of error", map[string]int64{"a": 11, "b": 9}, momentumOf(map[string]int64{"a": 1, "b": 3}, shift(0.25-0.55), shift(0.75-0.45)),
			anomalies{BurstsTotal: 1, ChangersTotal: 2},
			"Cats leads Dogs by 55.0% to 45.0% of 20 votes, a margin of 10.0 points (95% interval -31.6 to +48.4). " +
				"The lead is within the margin of error: the chance that Cats stays ahead is 66.8%. " +
				"In the last 5 minutes, Dogs took 75.0% of 4 votes, up 30.0 points on its overall share. " +
				"In the last 6 hours there was 1 unusual burst of votes and 2 voters who changed their vote repeatedly."},
		{"tie, steady", map[string]int64{"a": 1, "b": 1}, momentumOf(map[string]int64{"a": 1, "b": 1}, shift(0), shift(0)), calm,
			"Cats and Dogs are tied at 50.0% each after 2 votes. Neither leads, so the outcome is open. " +
				"The 2 votes cast in the last 5 minutes split much like the totals. " +
				"Nothing unusual happened in the last 6 hours: no bursts of votes and no voters changing their vote repeatedly."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFigures(summarize(opts, tt.totals), tt.m, tt.a, 5*time.Minute, 6*time.Hour)
			if got := narrate(f); got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestHumanDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		time.Hour: "hour", 6 * time.Hour: "6 hours", 5 * time.Minute: "5 minutes", 90 * time.Minute: "90 minutes",
		time.Minute: "minute", 45 * time.Second: "45 seconds",
	} {
		if got := humanDuration(d); got != want {
			t.Errorf("humanDuration(%s) = %q, want %q", d, got, want)
		}
	}
}
