package main

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/go-voting-app/voting-app/platform/ballot"
	"github.com/go-voting-app/voting-app/platform/postgres"
	"github.com/go-voting-app/voting-app/platform/stats"
	"github.com/go-voting-app/voting-app/platform/web"
)

// summary is the standing of the poll with its uncertainty. The insight is built from it too.
type summary struct {
	Total           int64         `json:"total"`
	ConfidenceLevel float64       `json:"confidence_level"`
	Options         []optionShare `json:"options"`
	// Leader is the key of the option with the most votes, or nil on a tie (and with no votes).
	Leader *string `json:"leader"`
	// Margin compares the two options with the most votes, leader first; ties in ballot order.
	Margin          margin  `json:"margin"`
	Significant     bool    `json:"significant"`
	LeadProbability float64 `json:"lead_probability"`
}

type optionShare struct {
	ballot.Option
	Votes    int64          `json:"votes"`
	Share    float64        `json:"share"`
	Interval stats.Interval `json:"interval"`
}

type margin struct {
	Between  [2]string      `json:"between"`
	Estimate float64        `json:"estimate"`
	Interval stats.Interval `json:"interval"`
}

// summarize computes the summary of the totals per option key. Keys not on the ballot are ignored.
// The ballot has at least two options (ballot.NewOptions).
func summarize(opts ballot.Options, totals map[string]int64) summary {
	t := ballot.NewTally(opts, totals)
	s := summary{Total: t.Total, ConfidenceLevel: 0.95, Options: make([]optionShare, len(t.Options))}
	for i, c := range t.Options {
		s.Options[i] = optionShare{
			Option:   c.Option,
			Votes:    c.Votes,
			Share:    stats.Share(c.Votes, t.Total),
			Interval: stats.Wilson(c.Votes, t.Total, stats.Z95),
		}
	}
	first, second := t.TopTwo()
	if first.Votes > second.Votes {
		s.Leader = &first.Key
	}
	lead := stats.LeadOf(first.Votes, second.Votes, t.Total)
	s.Margin = margin{Between: [2]string{first.Key, second.Key}, Estimate: lead.Margin, Interval: lead.Interval}
	s.Significant = lead.Significant
	s.LeadProbability = lead.Probability
	return s
}

// loadSummary reads the totals the database keeps per option (two rows, however many voters).
func loadSummary(ctx context.Context, q postgres.Querier, opts ballot.Options) (summary, error) {
	totals, err := postgres.Totals(ctx, q)
	if err != nil {
		return summary{}, err
	}
	return summarize(opts, totals), nil
}

func handleSummary(log *slog.Logger, st *store, opts ballot.Options) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var s summary
		err := st.read(r.Context(), func(q postgres.Querier) (err error) {
			s, err = loadSummary(r.Context(), q, opts)
			return err
		})
		if err != nil {
			respond(w, r, log, err)
			return
		}
		web.Encode(w, http.StatusOK, s)
	}
}
