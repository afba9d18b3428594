package main

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/go-voting-app/voting-app/platform/ballot"
	"github.com/go-voting-app/voting-app/platform/stats"
)

// figures are the numbers an insight is written from: exactly by the rules, and through a view
// (below) by a model. They hold counts, shares and labels only, never a voter id, and no
// timestamps. Shares are rounded to four decimals.
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

// view is what a model writes from, and what its narratives are cached by: the figures as a reader
// of the narrative would notice them, not as the database counts them. The exact figures change
// with every vote and, through the sliding windows, with every second; a narrative keyed by them
// would cost a call to a paid model per refresh of every dashboard. The view changes only when
// something a reader would notice does:
//
//   - overall shares in whole percentage points, rounded as the result page rounds them (largest
//     remainder, so they add up to 100), and the margin as the difference of those points;
//   - the leader and whether the lead is significant, exactly;
//   - the probability that the lead holds, by range: below 50, 50–60, 60–70, 70–80, 80–90,
//     90–95, 95–99, 99–99.9, 99.9–100 percent;
//   - counts (total, recent, bursts, vote changers) on a 1-2-5 scale: 0, 1, 2–4, 5–9, 10–19,
//     20–49, 50–99, 100–199…, so a poll of a million votes has given about 20 totals in its life;
//   - recent shares to the nearest 5 points, since a few minutes hold few votes, and the option
//     gaining, named only when its recent share is at least 5 points above its overall share.
//
// The model is sent the view itself, never the exact figures, so a cached narrative knows nothing
// more precise than what every later set of figures with the same view shares: whoever reads
// "about 69% of 200 to 499 votes" next to exact figures of 69.3% of 264 votes reads no contradiction.
// Near an edge (a share of 68.5%) the view can flip back and forth with votes; each side is cached,
// and the budget of calls a minute bounds the rest.
type view struct {
	TotalVotes      countRange   `json:"total_votes"`
	Options         []viewOption `json:"options"`
	Leader          *string      `json:"leader"`
	Between         [2]string    `json:"margin_between"`
	MarginPoints    int          `json:"margin_points"`
	Significant     bool         `json:"significant"`
	LeadProbability percentRange `json:"lead_probability_percent"`
	MomentumWindow  string       `json:"momentum_window"`
	RecentVotes     countRange   `json:"recent_votes"`
	Gaining         *string      `json:"gaining"`
	AnomalyWindow   string       `json:"anomaly_window"`
	Bursts          countRange   `json:"bursts"`
	VoteChangers    countRange   `json:"vote_changers"`
}

type viewOption struct {
	ballot.Option
	SharePercent int `json:"share_percent"`
	// RecentSharePercent is the share of the votes in the momentum window, a multiple of 5; nil
	// when none were cast there.
	RecentSharePercent *int `json:"recent_share_percent"`
}

// countRange holds a count: Min ≤ count ≤ Max.
type countRange struct {
	Min int64 `json:"min"`
	Max int64 `json:"max"`
}

// percentRange holds a probability in percent: Min ≤ p < Max, or p = Max = 100.
type percentRange struct {
	Min float64 `json:"min"`
	Max float64 `json:"max"`
}

// recentStep is the rounding of recent shares in the view, in percentage points, and how far an
// option's recent share must lie above its overall share for the view to name it gaining: less is
// within the rounding.
const recentStep = 5

func newView(f figures) view {
	v := view{
		TotalVotes:      countBucket(f.TotalVotes),
		Options:         make([]viewOption, len(f.Options)),
		Leader:          f.Leader,
		Between:         f.Between,
		Significant:     f.Significant,
		LeadProbability: probabilityBucket(f.LeadProbability),
		MomentumWindow:  f.MomentumWindow,
		RecentVotes:     countBucket(f.RecentVotes),
		AnomalyWindow:   f.AnomalyWindow,
		Bursts:          countBucket(f.Bursts),
		VoteChangers:    countBucket(f.VoteChangers),
	}
	opts := make(ballot.Options, len(f.Options))
	total, recent := make(map[string]int64, len(f.Options)), make(map[string]int64, len(f.Options))
	for i, o := range f.Options {
		opts[i] = o.Option
		total[o.Key], recent[o.Key] = o.Votes, o.RecentVotes
	}
	shares, recentShares := ballot.NewTally(opts, total), ballot.NewTally(opts, recent)
	percent := map[string]int{}
	gain := 0
	for i, o := range opts {
		vo := viewOption{Option: o, SharePercent: shares.Options[i].Percent}
		percent[o.Key] = vo.SharePercent
		if recentShares.Total > 0 {
			r := roundTo(recentShares.Options[i].Percent, recentStep)
			vo.RecentSharePercent = &r
			if d := r - vo.SharePercent; d >= recentStep && d > gain {
				key := o.Key
				gain, v.Gaining = d, &key
			}
		}
		v.Options[i] = vo
	}
	v.MarginPoints = percent[f.Between[0]] - percent[f.Between[1]]
	return v
}

// countBucket returns the range of the 1-2-5 scale that holds n: 0, 1, 2–4, 5–9, 10–19, 20–49…
func countBucket(n int64) countRange {
	if n <= 1 {
		n = max(n, 0)
		return countRange{n, n}
	}
	for decade := int64(1); ; decade *= 10 {
		steps := [...]int64{decade, 2 * decade, 5 * decade}
		for i, lo := range steps {
			if i == len(steps)-1 && decade > math.MaxInt64/10 {
				return countRange{lo, math.MaxInt64}
			}
			next := 10 * decade
			if i < len(steps)-1 {
				next = steps[i+1]
			}
			if n < next {
				return countRange{lo, next - 1}
			}
		}
	}
}

// probabilityBucket returns the range, in percent, that holds the probability p. The ranges narrow
// towards certainty, where a reader tells "likely" from "all but certain".
func probabilityBucket(p float64) percentRange {
	permille := [...]int{0, 500, 600, 700, 800, 900, 950, 990, 999, 1000}
	for i := len(permille) - 2; i > 0; i-- {
		if 1000*p >= float64(permille[i]) {
			return percentRange{float64(permille[i]) / 10, float64(permille[i+1]) / 10}
		}
	}
	return percentRange{0, 50}
}

// roundTo rounds a non-negative x to the nearest multiple of step.
func roundTo(x, step int) int { return (x + step/2) / step * step }
