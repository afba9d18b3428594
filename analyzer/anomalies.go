package main

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/go-voting-app/voting-app/platform/ballot"
	"github.com/go-voting-app/voting-app/platform/postgres"
	"github.com/go-voting-app/voting-app/platform/stats"
	"github.com/go-voting-app/voting-app/platform/web"
)

// anomalyQuery is what to look for, and where.
type anomalyQuery struct {
	Window     time.Duration
	Bucket     time.Duration
	Threshold  float64 // robust z-score at or above which a bucket is a burst
	MinVotes   int64   // a burst has at least this many votes, so 3 votes after silence are not one
	MinChanges int64   // a voter is listed after this many changes of option
	Limit      int64   // of bursts and of voters listed
}

// defaultAnomalies is what the insight looks at, and the defaults of /api/v1/anomalies. A modified
// z-score of 3.5 is Iglewicz and Hoaglin's threshold for an outlier.
func defaultAnomalies() anomalyQuery {
	return anomalyQuery{Window: 6 * time.Hour, Bucket: time.Minute, Threshold: 3.5, MinVotes: 5, MinChanges: 3, Limit: 20}
}

// minBaseline is the fewest buckets a window must hold for a median and a spread to mean anything.
const minBaseline = 10

// anomalies are the unusual things in a window: buckets with far more votes than usual, and voters
// who keep changing their vote.
type anomalies struct {
	From       time.Time `json:"from"`
	To         time.Time `json:"to"`
	Bucket     string    `json:"bucket"`
	Threshold  float64   `json:"threshold"`
	MinVotes   int64     `json:"min_votes"`
	MinChanges int64     `json:"min_changes"`
	Baseline   baseline  `json:"baseline"`
	Bursts     []burst   `json:"bursts"`
	// BurstsTotal counts every burst, of which at most limit are listed (the strongest).
	BurstsTotal   int64     `json:"bursts_total"`
	Changers      []changer `json:"changers"`
	ChangersTotal int64     `json:"changers_total"`
}

// changer is a voter whose stored vote changed option repeatedly, by the redacted id only. Votes is
// how often the stored vote was set: the first and every change.
type changer struct {
	Voter   string    `json:"voter"`
	Changes int64     `json:"changes"`
	Votes   int64     `json:"votes"`
	LastAt  time.Time `json:"last_cast_at"`
}

type baseline struct {
	Buckets int64   `json:"buckets"`
	Median  float64 `json:"median"`
	MAD     float64 `json:"mad"`
	Scale   float64 `json:"scale"`
}

type burst struct {
	Start time.Time `json:"start"`
	Votes int64     `json:"votes"`
	Score float64   `json:"score"`
}

// loadAnomalies scores every bucket of the window ending now by the robust z-score of its vote
// count among all buckets of the window (empty ones included: they are the baseline of a quiet
// poll), and finds the voters who changed their vote at least MinChanges times in it.
func loadAnomalies(ctx context.Context, q postgres.Querier, opts ballot.Options, now time.Time, aq anomalyQuery) (anomalies, error) {
	to := ceil(now)
	from := floor(to.Add(-aq.Window))
	n := countBuckets(from, to, aq.Bucket)
	rows, err := postgres.VotesPerBucket(ctx, q, from, to, aq.Bucket, opts.Keys(), maxBuckets*len(opts)+1)
	if err != nil {
		return anomalies{}, err
	}
	counts := make([]float64, n)
	for _, row := range rows {
		if i := int64(row.Start.Sub(from) / aq.Bucket); i >= 0 && i < n {
			counts[i] += float64(row.Votes)
		}
	}
	rz := stats.RobustZ(counts)
	a := anomalies{
		From: from, To: to, Bucket: aq.Bucket.String(),
		Threshold: aq.Threshold, MinVotes: aq.MinVotes, MinChanges: aq.MinChanges,
		Baseline: baseline{Buckets: n, Median: rz.Median, MAD: rz.MAD, Scale: rz.Scale},
		Bursts:   []burst{},
	}
	for i, z := range rz.Scores {
		if z >= aq.Threshold && counts[i] >= float64(aq.MinVotes) {
			a.Bursts = append(a.Bursts, burst{Start: from.Add(time.Duration(i) * aq.Bucket), Votes: int64(counts[i]), Score: z})
		}
	}
	a.BurstsTotal = int64(len(a.Bursts))
	// Keep the strongest, then show them in time order.
	slices.SortStableFunc(a.Bursts, func(x, y burst) int { return cmp.Compare(y.Score, x.Score) })
	a.Bursts = a.Bursts[:min(int64(len(a.Bursts)), aq.Limit)]
	slices.SortFunc(a.Bursts, func(x, y burst) int { return x.Start.Compare(y.Start) })

	found, total, err := postgres.Changers(ctx, q, from, to, aq.MinChanges, aq.Limit)
	if err != nil {
		return anomalies{}, err
	}
	a.ChangersTotal = total
	a.Changers = make([]changer, len(found))
	for i, c := range found {
		a.Changers[i] = changer{Voter: c.Voter, Changes: c.Changes, Votes: c.Changes + 1, LastAt: c.LastAt}
	}
	return a, nil
}

func handleAnomalies(log *slog.Logger, st *store, opts ballot.Options, now func() time.Time) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p := newParams(r)
		d := defaultAnomalies()
		aq := anomalyQuery{
			Window:     p.duration("window", d.Window, minWindow, maxWindow),
			Bucket:     p.bucket("bucket", d.Bucket, minBucket, maxBucket),
			Threshold:  p.float("threshold", d.Threshold, 1, 100),
			MinVotes:   p.int("min_votes", d.MinVotes, 1, 1_000_000_000),
			MinChanges: p.int("min_changes", d.MinChanges, 1, 1000),
			Limit:      p.int("limit", d.Limit, 1, 100),
		}
		if err := p.err(); err != nil {
			respond(w, r, log, err)
			return
		}
		if n := bucketsIn(aq.Window, aq.Bucket); n < minBaseline || n > maxBuckets {
			respond(w, r, log, invalidParams{{Parameter: "bucket", Detail: fmt.Sprintf("the window holds %d buckets of %s; "+
				"between %d and %d are needed", n, aq.Bucket, minBaseline, maxBuckets)}})
			return
		}
		var a anomalies
		err := st.read(r.Context(), func(q postgres.Querier) (err error) {
			a, err = loadAnomalies(r.Context(), q, opts, now(), aq)
			return err
		})
		if err != nil {
			respond(w, r, log, err)
			return
		}
		web.Encode(w, http.StatusOK, a)
	}
}
