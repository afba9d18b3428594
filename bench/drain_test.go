package main

import (
	"context"
	"testing"
	"time"

	"github.com/go-voting-app/voting-app/platform/queue"
	"github.com/go-voting-app/voting-app/testkit/servers"
)

// The drain's ceiling and its checks, end to end on real servers started the benchmark's way: a
// small stream preloaded, applied with the worker's statements, and the tally found exact.
func TestCeilingDrainIsExact(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	redisSrv, err := servers.NewRedis(false)
	if err != nil {
		t.Fatal(err)
	}
	defer redisSrv.Close()
	pg, err := servers.NewPostgres(servers.PostgresSettings{Params: []string{"track_commit_timestamp=on"}})
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	rdb := redisClient(redisSrv)
	defer rdb.Close()

	// Five whole batches of 1000 and a short one; 700 voters, so batches repeat voters.
	const entries, voters = 5000, 700
	votes, expected, err := preload(ctx, rdb, templateStream, entries+123, voters)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := rdb.LLen(ctx, queue.InboxKey(templateStream)).Result(); n != entries+123 || len(votes) != entries+123 {
		t.Fatalf("inbox has %d votes, %d expected; want %d", n, len(votes), entries+123)
	}
	if expected["a"]+expected["b"] != voters {
		t.Fatalf("expected %v: want one vote per voter (%d)", expected, voters)
	}
	b := &bench{logf: t.Logf}
	run, err := b.drainCeiling(ctx, pg, votes, false, expected)
	if err != nil {
		t.Fatal(err)
	}
	if !run.Exact {
		t.Fatalf("not exact: %v", run.Problems)
	}
	// The check notices a wrong expectation.
	wrong := map[string]int64{"a": expected["a"] + 1, "b": expected["b"]}
	var bad drainRun
	b.check(ctx, pg.URLFor("drain_ceiling"), int64(len(votes)), wrong, &bad)
	if bad.Exact || len(bad.Problems) != 2 {
		t.Fatalf("a wrong expectation passed: %+v", bad)
	}
}
