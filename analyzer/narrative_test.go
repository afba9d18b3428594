package main

import (
	"math"
	"reflect"
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

func TestCountBucket(t *testing.T) {
	for n, want := range map[int64]countRange{
		-1: {0, 0}, 0: {0, 0}, 1: {1, 1}, 2: {2, 4}, 4: {2, 4}, 5: {5, 9}, 9: {5, 9}, 10: {10, 19}, 19: {10, 19},
		20: {20, 49}, 49: {20, 49}, 50: {50, 99}, 263: {200, 499}, 1000: {1000, 1999}, 999_999: {500_000, 999_999},
		math.MaxInt64 / 2: {2e18, 5e18 - 1}, 5e18: {5e18, math.MaxInt64}, math.MaxInt64: {5e18, math.MaxInt64},
	} {
		if got := countBucket(n); got != want {
			t.Errorf("countBucket(%d) = %v, want %v", n, got, want)
		}
	}
}

func TestProbabilityBucket(t *testing.T) {
	for p, want := range map[float64]percentRange{
		0.5: {50, 60}, 0.5999: {50, 60}, 0.6: {60, 70}, 0.668: {60, 70}, 0.94: {90, 95}, 0.95: {95, 99},
		0.998: {99, 99.9}, 0.9991: {99.9, 100}, 1: {99.9, 100}, 0.3: {0, 50},
	} {
		if got := probabilityBucket(p); got != want {
			t.Errorf("probabilityBucket(%v) = %v, want %v", p, got, want)
		}
	}
}

func TestView(t *testing.T) {
	recent := func(p int) *int { return &p }
	key := func(k string) *string { return &k }
	t.Run("what a reader notices", func(t *testing.T) {
		// 20 recent votes, 15 for Dogs: 75% against 69% overall, 6 points, so Dogs is gaining.
		got := newView(figuresOf(81, 182, 5, 15))
		want := view{
			TotalVotes: countRange{200, 499},
			Options: []viewOption{
				{Option: ballot.Option{Key: "a", Label: "Cats"}, SharePercent: 31, RecentSharePercent: recent(25)},
				{Option: ballot.Option{Key: "b", Label: "Dogs"}, SharePercent: 69, RecentSharePercent: recent(75)},
			},
			Leader: key("b"), Between: [2]string{"b", "a"}, MarginPoints: 38, Significant: true,
			LeadProbability: percentRange{99.9, 100}, MomentumWindow: "5 minutes", RecentVotes: countRange{20, 49},
			Gaining: key("b"), AnomalyWindow: "6 hours",
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("got\n%+v\nwant\n%+v", got, want)
		}
	})
	t.Run("rounded as the result page rounds", func(t *testing.T) {
		// 99 to 101: 49.5% and 50.5%, which are 50 and 50 on the result page (largest remainder,
		// ties to the first option), never 50 and 51 or 49 and 51. The lead is then 0 points.
		v := newView(figuresOf(99, 101, 0, 0))
		if v.Options[0].SharePercent != 50 || v.Options[1].SharePercent != 50 || v.MarginPoints != 0 || *v.Leader != "b" {
			t.Errorf("%+v", v)
		}
		if v.Options[0].RecentSharePercent != nil || v.Gaining != nil {
			t.Errorf("no recent votes, yet %+v", v)
		}
	})
	t.Run("a small recent lean names nobody gaining", func(t *testing.T) {
		// 12 of 20 recent votes for Cats, 60% (rounded to 60) against 31% overall: gaining; 7 of
		// 20 for Cats, 35% against 31%: 4 points is within the rounding, nobody gains.
		if v := newView(figuresOf(81, 182, 12, 8)); v.Gaining == nil || *v.Gaining != "a" {
			t.Errorf("Cats not gaining in %+v", v)
		}
		if v := newView(figuresOf(81, 182, 7, 13)); v.Gaining != nil {
			t.Errorf("%s gaining in %+v", *v.Gaining, v)
		}
	})
	tests := []struct {
		name string
		a, b figures
		same bool
	}{
		{"one more vote", figuresOf(81, 182, 0, 0), figuresOf(81, 183, 0, 0), true},
		{"a share moves a point", figuresOf(81, 182, 0, 0), figuresOf(81, 186, 0, 0), false},
		{"the lead flips", figuresOf(101, 100, 0, 0), figuresOf(101, 102, 0, 0), false},
		{"ten times the votes, same shares", figuresOf(81, 182, 0, 0), figuresOf(810, 1820, 0, 0), false},
		{"a recent vote", figuresOf(81, 182, 0, 0), figuresOf(81, 182, 1, 0), false},
		{"one more recent vote of 40", figuresOf(300, 200, 30, 10), figuresOf(301, 200, 31, 10), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if same := reflect.DeepEqual(newView(tt.a), newView(tt.b)); same != tt.same {
				t.Errorf("same view = %v, want %v\n%+v\n%+v", same, tt.same, newView(tt.a), newView(tt.b))
			}
		})
	}
}
