package main

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/go-voting-app/voting-app/platform/ballot"
	"github.com/go-voting-app/voting-app/platform/postgres"
	"github.com/go-voting-app/voting-app/platform/stats"
)

// The live chart shows the votes cast per option in each interval of the last chartWindow, as the
// rollup keeps them (postgres.RollupInterval, 10 s). The feed reads a little more than the window,
// from the start of a minute, so that with no votes coming in the document (and its ID) changes at
// most once a minute as old intervals leave it; the page slides the window itself.
const (
	chartWindow = 5 * time.Minute
	chartSlack  = time.Minute
)

// chartSince is where the feed starts reading intervals at now.
func chartSince(now time.Time) time.Time {
	return now.Truncate(chartSlack).Add(-chartWindow)
}

// lead is the standing between the two leading options, in figures and in plain words.
type lead struct {
	Text        string  `json:"text"`
	Leader      string  `json:"leader,omitempty"` // key; "" on a tie
	Margin      float64 `json:"margin"`           // in percentage points, leader minus runner-up
	Low         float64 `json:"low"`              // the 95% interval of the margin, in points
	High        float64 `json:"high"`
	Significant bool    `json:"significant"`
	Probability float64 `json:"probability"` // that the leader's underlying share is the larger
}

// newLead compares the two options with the most votes.
func newLead(t ballot.Tally) lead {
	first, second := t.TopTwo()
	s := stats.LeadOf(first.Votes, second.Votes, t.Total)
	l := lead{Margin: 100 * s.Margin, Low: 100 * s.Interval.Lower, High: 100 * s.Interval.Upper,
		Significant: s.Significant, Probability: s.Probability}
	switch {
	case t.Total == 0:
		l.Text = "No votes yet."
	case first.Votes == second.Votes:
		l.Text = fmt.Sprintf("%s and %s are tied at %s each.", first.Label, second.Label, ballot.Votes(first.Votes))
	case s.Significant:
		l.Leader = first.Key
		l.Text = fmt.Sprintf("Lead: %s, by %s points over %s (95%% interval %s to %s). A clear lead: the chance it holds is %s.",
			first.Label, points(l.Margin), second.Label, points(l.Low), points(l.High), chance(l.Probability))
	default:
		l.Leader = first.Key
		l.Text = fmt.Sprintf("Too close to call. Lead: %s, by %s points over %s (95%% interval %s to %s); the chance it holds is %s.",
			first.Label, points(l.Margin), second.Label, points(l.Low), points(l.High), chance(l.Probability))
	}
	return l
}

// points writes a number of percentage points with one decimal, signed when below zero.
func points(p float64) string { return strconv.FormatFloat(math.Round(p*10)/10, 'f', 1, 64) }

// chance writes a probability as a percentage with at most one decimal, never 100% or 0% unless
// it is exactly that.
func chance(p float64) string {
	switch {
	case p > 0.999 && p < 1:
		return "above 99.9%"
	case p < 0.001 && p > 0:
		return "below 0.1%"
	}
	return strconv.FormatFloat(math.Round(p*1000)/10, 'f', -1, 64) + "%"
}

// recentVotes is the chart's data: votes per option per interval, oldest first, intervals without
// votes left out.
type recentVotes struct {
	IntervalSeconds int            `json:"interval_seconds"`
	WindowSeconds   int            `json:"window_seconds"`
	Buckets         []recentBucket `json:"buckets"`
}

type recentBucket struct {
	Start time.Time        `json:"start"`
	Votes map[string]int64 `json:"votes"` // by option key
}

// newRecentVotes groups the rollup's rows by interval, keeping only the ballot's keys.
func newRecentVotes(opts ballot.Options, rows []postgres.BucketVotes) recentVotes {
	r := recentVotes{IntervalSeconds: int(postgres.RollupInterval / time.Second), WindowSeconds: int(chartWindow / time.Second),
		Buckets: []recentBucket{}}
	for _, row := range rows {
		if _, ok := opts.Find(row.Option); !ok {
			continue
		}
		if n := len(r.Buckets); n == 0 || !r.Buckets[n-1].Start.Equal(row.Start) {
			r.Buckets = append(r.Buckets, recentBucket{Start: row.Start.UTC(), Votes: map[string]int64{}})
		}
		r.Buckets[len(r.Buckets)-1].Votes[row.Option] += row.Votes
	}
	return r
}
