package main

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/go-voting-app/voting-app/platform/ballot"
	"github.com/go-voting-app/voting-app/platform/postgres"
	"github.com/go-voting-app/voting-app/platform/stats"
	"github.com/go-voting-app/voting-app/platform/web"
)

// momentum compares each option's share of the votes cast recently with its share of the standing
// totals: an option whose recent share is above its overall share is gaining.
type momentum struct {
	Window      string           `json:"window"`
	Since       time.Time        `json:"since"`
	RecentTotal int64            `json:"recent_total"`
	Total       int64            `json:"total"`
	Options     []optionMomentum `json:"options"`
}

type optionMomentum struct {
	ballot.Option
	RecentVotes    int64          `json:"recent_votes"`
	RecentShare    float64        `json:"recent_share"`
	RecentInterval stats.Interval `json:"recent_interval"`
	Votes          int64          `json:"votes"`
	Share          float64        `json:"share"`
	// Shift is RecentShare - Share, or nil when no votes were cast in the window.
	Shift *float64 `json:"shift"`
}

// Bounds of the momentum window.
const (
	minWindow = time.Minute
	maxWindow = 7 * 24 * time.Hour
)

// loadMomentum counts the votes cast since now - window and reads the standing totals, in the
// caller's snapshot.
func loadMomentum(ctx context.Context, q postgres.Querier, opts ballot.Options, now time.Time, window time.Duration) (momentum, error) {
	since := now.UTC().Add(-window).Truncate(time.Microsecond)
	recent, err := postgres.VotesSince(ctx, q, since, opts.Keys())
	if err != nil {
		return momentum{}, err
	}
	totals, err := postgres.Totals(ctx, q)
	if err != nil {
		return momentum{}, err
	}
	rt, t := ballot.NewTally(opts, recent), ballot.NewTally(opts, totals)
	m := momentum{Window: window.String(), Since: since, RecentTotal: rt.Total, Total: t.Total,
		Options: make([]optionMomentum, len(opts))}
	for i, o := range opts {
		rv, v := rt.Options[i].Votes, t.Options[i].Votes
		om := optionMomentum{
			Option:         o,
			RecentVotes:    rv,
			RecentShare:    stats.Share(rv, rt.Total),
			RecentInterval: stats.Wilson(rv, rt.Total, stats.Z95),
			Votes:          v,
			Share:          stats.Share(v, t.Total),
		}
		if rt.Total > 0 {
			shift := om.RecentShare - om.Share
			om.Shift = &shift
		}
		m.Options[i] = om
	}
	return m, nil
}

func handleMomentum(log *slog.Logger, st *store, opts ballot.Options, now func() time.Time) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p := newParams(r)
		window := p.duration("window", 5*time.Minute, minWindow, maxWindow)
		if err := p.err(); err != nil {
			respond(w, r, log, err)
			return
		}
		var m momentum
		err := st.read(r.Context(), func(q postgres.Querier) (err error) {
			m, err = loadMomentum(r.Context(), q, opts, now(), window)
			return err
		})
		if err != nil {
			respond(w, r, log, err)
			return
		}
		web.Encode(w, http.StatusOK, m)
	}
}
