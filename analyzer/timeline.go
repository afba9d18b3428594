package main

import (
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/go-voting-app/voting-app/platform/ballot"
	"github.com/go-voting-app/voting-app/platform/postgres"
	"github.com/go-voting-app/voting-app/platform/web"
)

// Bounds of a bucket width: the interval the votes are counted in at the finest, a week (the longest
// span) at the coarsest.
const (
	minBucket = postgres.RollupInterval
	maxBucket = maxSpan
)

func handleTimeline(log *slog.Logger, st *store, opts ballot.Options, now func() time.Time) http.HandlerFunc {
	type bucket struct {
		Start time.Time        `json:"start"`
		Votes map[string]int64 `json:"votes"`
		Total int64            `json:"total"`
	}
	type response struct {
		From          time.Time       `json:"from"`
		To            time.Time       `json:"to"`
		Bucket        string          `json:"bucket"`
		BucketSeconds int64           `json:"bucket_seconds"`
		Options       []ballot.Option `json:"options"`
		Buckets       []bucket        `json:"buckets"`
	}
	const defaultBuckets = 60
	return func(w http.ResponseWriter, r *http.Request) {
		p := newParams(r)
		width := p.bucket("bucket", time.Minute, minBucket, maxBucket)
		to := ceil(p.time("to", now()))
		// By default the last 60 buckets, starting on a bucket boundary so that charts line up.
		from := floor(p.time("from", to.Add(-defaultBuckets*width).Truncate(width)))
		if err := p.err(); err != nil {
			respond(w, r, log, err)
			return
		}
		if !from.Before(to) {
			respond(w, r, log, invalidParams{{Parameter: "from", Detail: "must be before to"}})
			return
		}
		if to.Sub(from) > maxSpan {
			respond(w, r, log, invalidParams{{Parameter: "from", Detail: fmt.Sprintf("from and to span %s; at most %s "+
				"is allowed", to.Sub(from), maxSpan)}})
			return
		}
		n := countBuckets(from, to, width)
		if n > maxBuckets {
			respond(w, r, log, invalidParams{{Parameter: "bucket", Detail: fmt.Sprintf("from and to span %d buckets of %s; at most %d "+
				"are allowed, so widen the bucket or narrow the range", n, width, maxBuckets)}})
			return
		}

		var rows []postgres.BucketVotes
		err := st.read(r.Context(), func(q postgres.Querier) (err error) {
			rows, err = postgres.VotesPerBucket(r.Context(), q, from, to, width, opts.Keys(), maxBuckets*len(opts)+1)
			return err
		})
		if err != nil {
			respond(w, r, log, err)
			return
		}
		// Every bucket is listed, empty ones too: a chart needs the zeros.
		resp := response{
			From: from, To: to, Bucket: width.String(), BucketSeconds: int64(width / time.Second),
			Options: opts, Buckets: make([]bucket, n),
		}
		for i := range resp.Buckets {
			votes := make(map[string]int64, len(opts))
			for _, o := range opts {
				votes[o.Key] = 0
			}
			resp.Buckets[i] = bucket{Start: from.Add(time.Duration(i) * width), Votes: votes}
		}
		for _, row := range rows {
			i := row.Start.Sub(from) / width
			if i < 0 || int64(i) >= n {
				continue // cannot happen with date_bin aligned on from; never index out of range
			}
			b := &resp.Buckets[i]
			b.Votes[row.Option] += row.Votes
			b.Total += row.Votes
		}
		web.Encode(w, http.StatusOK, resp)
	}
}
