package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/go-voting-app/voting-app/platform/ballot"
	"github.com/go-voting-app/voting-app/platform/queue"
	"github.com/go-voting-app/voting-app/testkit"
	"github.com/redis/go-redis/v9"
)

// BenchmarkDrain preloads the stream and times the worker emptying it into Postgres; it reports
// votes/s. Run: go test ./worker -run '^$' -bench Drain -benchtime 1x
func BenchmarkDrain(b *testing.B) {
	const entries, voters = 100_000, 20_000
	for range b.N {
		b.StopTimer()
		url, prefix := testkit.Redis(b)
		r := newRig(b, testkit.Postgres(b), url, prefix)
		preload(b, r.rdb, r.stream, entries, voters)
		cs := fastSettings
		cs.BatchSize = 1000
		c := r.consumer("bench", cs)
		ctx, cancel := context.WithCancel(context.Background())
		b.StartTimer()
		start := time.Now()
		done := make(chan struct{})
		go func() { c.Run(ctx); close(done) }()
		for {
			p, _ := r.rdb.XInfoGroups(ctx, r.stream).Result()
			if len(p) == 1 && p[0].Pending == 0 && p[0].Lag == 0 && p[0].EntriesRead == entries {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		elapsed := time.Since(start)
		b.StopTimer()
		cancel()
		<-done
		b.ReportMetric(float64(entries)/elapsed.Seconds(), "votes/s")
		b.StartTimer()
	}
}

func preload(b *testing.B, rdb *redis.Client, stream string, n, voters int) {
	ctx := context.Background()
	votes := queue.NewStream(rdb, stream)
	now := time.Now()
	casts := make([]queue.Cast, 0, 1000)
	for i := range n {
		voter := ballot.VoterID(fmt.Sprintf("%032x", (i*7919)%voters))
		casts = append(casts, queue.Cast{Voter: voter, Option: []string{"a", "b"}[i%3%2], At: now})
		if len(casts) == cap(casts) || i == n-1 {
			if _, err := votes.Append(ctx, casts...); err != nil {
				b.Fatal(err)
			}
			casts = casts[:0]
		}
	}
}
