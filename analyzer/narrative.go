package main

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/go-voting-app/voting-app/platform/ballot"
	"github.com/go-voting-app/voting-app/platform/stats"
)

// figures are the numbers an insight is written from, by the rules or by a model. They hold
// counts, shares and labels only, never a voter id, and no timestamps: equal figures mean an equal
// insight, which is what the insight cache is keyed by. Shares are rounded to four decimals.
type figures struct {
	TotalVotes      int64          `json:"total_votes"`
	Options         []figureOption `json:"options"`
	Leader          *string        `json:"leader"`
	Between         [2]string      `json:"margin_between"`
	Margin          float64        `json:"margin"`
	MarginInterval  stats.Interval `json:"margin_interval"`
	Significant     bool           `json:"significant"`
	LeadProbability float64        `json:"lead_probability"`
	MomentumWindow  string         `json:"momentum_window"`
	RecentVotes     int64          `json:"recent_votes"`
	AnomalyWindow   string         `json:"anomaly_window"`
	Bursts          int64          `json:"bursts"`
	VoteChangers    int64          `json:"vote_changers"`
}

type figureOption struct {
	ballot.Option
	Votes         int64          `json:"votes"`
	Share         float64        `json:"share"`
	ShareInterval stats.Interval `json:"share_interval"`
	RecentVotes   int64          `json:"recent_votes"`
	// Shift is the recent share minus the overall share, nil when nothing was cast recently.
	Shift *float64 `json:"shift"`
}

func newFigures(s summary, m momentum, a anomalies, momentumWindow, anomalyWindow time.Duration) figures {
	f := figures{
		TotalVotes:      s.Total,
		Options:         make([]figureOption, len(s.Options)),
		Leader:          s.Leader,
		Between:         s.Margin.Between,
		Margin:          round4(s.Margin.Estimate),
		MarginInterval:  roundInterval(s.Margin.Interval),
		Significant:     s.Significant,
		LeadProbability: round4(s.LeadProbability),
		MomentumWindow:  humanDuration(momentumWindow),
		RecentVotes:     m.RecentTotal,
		AnomalyWindow:   humanDuration(anomalyWindow),
		Bursts:          a.BurstsTotal,
		VoteChangers:    a.ChangersTotal,
	}
	for i, o := range s.Options {
		fo := figureOption{Option: o.Option, Votes: o.Votes, Share: round4(o.Share), ShareInterval: roundInterval(o.Interval)}
		if i < len(m.Options) && m.Options[i].Key == o.Key {
			fo.RecentVotes = m.Options[i].RecentVotes
			if sh := m.Options[i].Shift; sh != nil {
				r := round4(*sh)
				fo.Shift = &r
			}
		}
		f.Options[i] = fo
	}
	return f
}

// narrate writes the insight by rules: one paragraph, every number taken from the figures.
func narrate(f figures) string {
	if f.TotalVotes == 0 {
		return "No votes have been cast yet, so there is nothing to report."
	}
	opt := func(key string) figureOption {
		for _, o := range f.Options {
			if o.Key == key {
				return o
			}
		}
		return figureOption{}
	}
	first, second := opt(f.Between[0]), opt(f.Between[1])
	var s []string
	if f.Leader == nil {
		s = append(s,
			fmt.Sprintf("%s and %s are tied at %s each after %s.", first.Label, second.Label, percent(first.Share), votes(f.TotalVotes)),
			"Neither leads, so the outcome is open.")
	} else {
		s = append(s, fmt.Sprintf("%s leads %s by %s to %s of %s, a margin of %s (95%% interval %s to %s).",
			first.Label, second.Label, percent(first.Share), percent(second.Share), votes(f.TotalVotes),
			points(f.Margin), signedPoints(f.MarginInterval.Lower), signedPoints(f.MarginInterval.Upper)))
		if f.Significant {
			s = append(s, fmt.Sprintf("The lead is statistically significant, and the chance that %s stays ahead is %s.",
				first.Label, probability(f.LeadProbability)))
		} else {
			s = append(s, fmt.Sprintf("The lead is within the margin of error: the chance that %s stays ahead is %s.",
				first.Label, probability(f.LeadProbability)))
		}
	}
	s = append(s, momentumSentence(f))
	if f.Bursts == 0 && f.VoteChangers == 0 {
		s = append(s, fmt.Sprintf("Nothing unusual happened in the last %s: no bursts of votes and no voters changing their vote repeatedly.", f.AnomalyWindow))
	} else {
		s = append(s, fmt.Sprintf("In the last %s there %s %s and %s who changed their vote repeatedly.", f.AnomalyWindow,
			plural(f.Bursts, "was", "were"), count(f.Bursts, "unusual burst of votes", "unusual bursts of votes"),
			count(f.VoteChangers, "voter", "voters")))
	}
	return strings.Join(s, " ")
}

// momentumSentence names the option gaining most: the one whose share of the recent votes is
// furthest above its overall share. Recent and overall shares both add up to 1, so some option
// always gains when another loses.
func momentumSentence(f figures) string {
	if f.RecentVotes == 0 {
		return fmt.Sprintf("No votes were cast in the last %s.", f.MomentumWindow)
	}
	var gainer *figureOption
	for i := range f.Options {
		o := &f.Options[i]
		if o.Shift != nil && (gainer == nil || *o.Shift > *gainer.Shift) {
			gainer = o
		}
	}
	if gainer == nil || *gainer.Shift < 0.005 {
		return fmt.Sprintf("The %s cast in the last %s split much like the totals.", votes(f.RecentVotes), f.MomentumWindow)
	}
	return fmt.Sprintf("In the last %s, %s took %s of %s, up %s on its overall share.", f.MomentumWindow, gainer.Label,
		percent(share(gainer.RecentVotes, f.RecentVotes)), votes(f.RecentVotes), points(*gainer.Shift))
}

func share(x, n int64) float64 { return stats.Share(x, n) }

func percent(p float64) string { return fmt.Sprintf("%.1f%%", 100*p) }

func points(d float64) string {
	if v := fmt.Sprintf("%.1f", 100*d); v != "1.0" {
		return v + " points"
	}
	return "1.0 point"
}

func signedPoints(d float64) string { return fmt.Sprintf("%+.1f", 100*d) }

func probability(p float64) string {
	switch {
	case p > 0.999:
		return "above 99.9%"
	case p < 0.001:
		return "below 0.1%"
	}
	return percent(p)
}

func votes(n int64) string { return strings.ToLower(ballot.Tally{Total: n}.Summary()) }

func count(n int64, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

func plural(n int64, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// humanDuration writes whole hours, minutes or seconds as words for "in the last …": 5m →
// "5 minutes", 1h → "hour".
func humanDuration(d time.Duration) string {
	unit, name := time.Second, "second"
	switch {
	case d%time.Hour == 0:
		unit, name = time.Hour, "hour"
	case d%time.Minute == 0:
		unit, name = time.Minute, "minute"
	}
	if n := int64(d / unit); n != 1 {
		return fmt.Sprintf("%d %ss", n, name)
	}
	return name
}

func round4(x float64) float64 { return math.Round(x*1e4) / 1e4 }

func roundInterval(iv stats.Interval) stats.Interval {
	return stats.Interval{Lower: round4(iv.Lower), Upper: round4(iv.Upper)}
}
