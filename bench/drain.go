package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/go-voting-app/voting-app/testkit/servers"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/go-voting-app/voting-app/platform/ballot"
	"github.com/go-voting-app/voting-app/platform/postgres"
	"github.com/go-voting-app/voting-app/platform/postgres/migrations"
	"github.com/go-voting-app/voting-app/platform/queue"
)

// The worker's defaults, which the drain runs with and the ceiling copies.
const (
	drainBatch       = 1000
	drainConcurrency = 2
	templateStream   = "bench:template" // the preloaded votes wait on its inbox
	voteStream       = "votes:stream"
)

// drain is benchmark 2: the stream preloaded once, copied before every run; the worker drains it
// into Postgres, and the ceiling applies the same votes with the same statements and batches.
// Both on a server run as testkit runs it (fsync off), then on a durable one.
func (b *bench) drain(ctx context.Context) error {
	cfg := b.cfg
	redisSrv, err := servers.NewRedis(false)
	if err != nil {
		return err
	}
	defer redisSrv.Close()
	rdb := redisClient(redisSrv)
	defer rdb.Close()

	start := time.Now()
	votes, expected, err := preload(ctx, rdb, templateStream, cfg.drainEntries, cfg.drainVoters)
	if err != nil {
		return err
	}
	res := &drainResult{Entries: cfg.drainEntries, Voters: cfg.drainVoters, BatchSize: drainBatch,
		Preload: time.Since(start).Seconds(), Expected: expected}
	b.logf("drain: preloaded %d entries from %d voters in %s", cfg.drainEntries, cfg.drainVoters, time.Since(start).Round(100*time.Millisecond))

	modes := []bool{false}
	if cfg.drainDurable {
		modes = append(modes, true)
	}
	for _, durable := range modes {
		pg, err := servers.NewPostgres(servers.PostgresSettings{Durable: durable})
		if err != nil {
			return err
		}
		w, err := b.drainWorker(ctx, pg, redisSrv, rdb, durable, expected)
		if err == nil {
			res.Runs = append(res.Runs, w)
			var c drainRun
			c, err = b.drainCeiling(ctx, pg, votes, durable, expected)
			res.Runs = append(res.Runs, c)
		}
		pg.Close()
		if err != nil {
			return err
		}
	}
	b.res.Drain = res
	return nil
}

// preload casts n votes from voters voters onto the inbox of stream as the vote service casts them
// (queue.Inbox), drainBatch per round trip so that the inbox's order is the order of i, and returns
// the votes as the worker will apply them (positions in that order) and the tally they must end
// in. Copied to the app's inbox, it is the backlog a worker finds after an outage.
func preload(ctx context.Context, rdb *redis.Client, stream string, n, voters int) ([]ballot.Vote, map[string]int64, error) {
	return preloadFrom(ctx, rdb, stream, n, voters, 0)
}

// preloadFrom is preload with voters numbered from first on, so that preloads with different
// first voters share none.
func preloadFrom(ctx context.Context, rdb *redis.Client, stream string, n, voters, first int) ([]ballot.Vote, map[string]int64, error) {
	inbox := queue.NewInbox(rdb, stream)
	rdb.Del(ctx, inbox.Key())
	ids := make([]string, voters)
	for v := range voters {
		ids[v] = fmt.Sprintf("%032x", first+v)
	}
	last := make([]string, voters)
	votes := make([]ballot.Vote, 0, n)
	castAt := time.Now()
	casts := make([]queue.Cast, 0, drainBatch)
	for i := range n {
		v, opt := voterOf(i, voters), optionOf(i)
		last[v] = opt
		casts = append(casts, queue.Cast{Voter: ballot.VoterID(ids[v]), Option: opt, At: castAt})
		if len(casts) == drainBatch || i == n-1 {
			if err := inbox.Cast(ctx, casts...); err != nil {
				return nil, nil, fmt.Errorf("preload: %w", err)
			}
			for _, c := range casts {
				votes = append(votes, ballot.Vote{Position: ballot.Position{Ms: castAt.UnixMilli(), Seq: int64(len(votes))},
					Voter: string(c.Voter), Option: c.Option, CastAt: time.UnixMilli(castAt.UnixMilli()).UTC()})
			}
			casts = casts[:0]
		}
	}
	expected := map[string]int64{}
	for _, o := range last {
		if o != "" {
			expected[o]++
		}
	}
	return votes, expected, nil
}

// voterOf spreads entries over voters: 7919 is prime, so every voter gets an equal share and a
// voter's votes are far apart in the stream (in different batches).
func voterOf(i, voters int) int { return (i * 7919) % voters }

// optionOf gives a two-to-one split, so the tally is not a tie by accident.
func optionOf(i int) string { return []string{ballot.KeyA, ballot.KeyB}[i%3%2] }

// drainWorker runs the worker against a copy of the preloaded stream and times it from exec until
// the consumer group has read and acknowledged every entry (acknowledged only after commit).
func (b *bench) drainWorker(ctx context.Context, pg *servers.PostgresServer, redisSrv *servers.RedisServer, rdb *redis.Client, durable bool, expected map[string]int64) (drainRun, error) {
	name := "drain_worker"
	dbURL, err := pg.CreateDatabase(ctx, name)
	if err != nil {
		return drainRun{}, err
	}
	logDir := filepath.Join(b.work, "logs")
	os.MkdirAll(logDir, 0o755)
	env := map[string]string{"DATABASE_URL": dbURL, "REDIS_URL": redisSrv.URL(), "CONSUMER_NAME": "bench"}

	// A first start migrates the database; its idle footprint is the worker's.
	rdb.Del(ctx, voteStream)
	w, err := startService(ctx, "worker", b.bins.worker, logDir, env)
	if err != nil {
		return drainRun{}, err
	}
	if !durable {
		b.noteIdle(w)
	}
	if err := w.stop(); err != nil {
		return drainRun{}, fmt.Errorf("worker: %w", err)
	}
	rdb.Del(ctx, voteStream, queue.InboxKey(voteStream))
	if err := rdb.Copy(ctx, queue.InboxKey(templateStream), queue.InboxKey(voteStream), 0, true).Err(); err != nil {
		return drainRun{}, fmt.Errorf("copy the preloaded inbox: %w", err)
	}

	m := startMeter(map[string]proc{"postgres": {pid: pg.PID(), tree: true}, "redis": {pid: redisSrv.PID()}})
	start := time.Now()
	w, err = startService(ctx, "worker", b.bins.worker, logDir, env)
	if err != nil {
		return drainRun{}, err
	}
	defer w.stop()
	mem := sampleRSS(w.pid(), 250*time.Millisecond)
	n := int64(b.cfg.drainEntries)
	if err := awaitDrained(ctx, rdb, w, n); err != nil {
		return drainRun{}, err
	}
	elapsed := time.Since(start)
	cpu := m.stop()
	// The worker started after the meter: its whole life is the drain.
	cpu.Cores["worker"] = float64(procTicks(w.pid(), false)) / clockTicks / cpu.Seconds
	cpu.Others = max(cpu.Others-cpu.Cores["worker"], 0)
	run := drainRun{Name: "worker", Durable: durable, Seconds: elapsed.Seconds(),
		VotesPS: float64(n) / elapsed.Seconds(), CPU: cpu, RSS: mem.stop()}
	if err := w.stop(); err != nil {
		run.Problems = append(run.Problems, "worker did not stop cleanly: "+err.Error())
	}
	b.noteLoaded("worker", "2 drain", run.RSS.Max)
	b.check(ctx, dbURL, n, expected, &run)
	b.logf("drain: worker  durable=%t %6.1fs %8.0f votes/s exact=%t cpu %s", durable, run.Seconds, run.VotesPS, run.Exact, cpuLine(cpu))
	return run, nil
}

// drainCeiling applies the preloaded votes straight from Go with the worker's own batch writer
// (postgres.Store.Apply): batches of drainBatch stream entries in stream order, drainConcurrency
// at a time, without Redis, decoding or acknowledgements.
func (b *bench) drainCeiling(ctx context.Context, pg *servers.PostgresServer, votes []ballot.Vote, durable bool, expected map[string]int64) (drainRun, error) {
	dbURL, err := pg.CreateDatabase(ctx, "drain_ceiling")
	if err != nil {
		return drainRun{}, err
	}
	pool, err := postgres.Open(ctx, postgres.Config{URL: dbURL, AppName: "bench-ceiling", MaxConns: drainConcurrency})
	if err != nil {
		return drainRun{}, err
	}
	defer pool.Close()
	if err := migrations.Up(ctx, pool, discardLogger()); err != nil {
		return drainRun{}, err
	}
	m := startMeter(map[string]proc{"postgres": {pid: pg.PID(), tree: true}, "bench": {pid: os.Getpid()}})
	start := time.Now()
	i := 0
	err = applyAll(ctx, postgres.NewStore(pool), func() []ballot.Vote {
		batch := votes[i:min(i+drainBatch, len(votes))]
		i += len(batch)
		return batch
	})
	elapsed := time.Since(start)
	cpu := m.stop()
	if err != nil {
		return drainRun{}, err
	}
	run := drainRun{Name: "ceiling", Durable: durable, Seconds: elapsed.Seconds(),
		VotesPS: float64(len(votes)) / elapsed.Seconds(), CPU: cpu}
	b.check(ctx, dbURL, int64(len(votes)), expected, &run)
	b.logf("drain: ceiling durable=%t %6.1fs %8.0f votes/s exact=%t cpu %s", durable, run.Seconds, run.VotesPS, run.Exact, cpuLine(cpu))
	return run, nil
}

// applyAll applies the batches next returns, until an empty one, with the worker's batch writer,
// drainConcurrency at a time, as the worker does.
func applyAll(ctx context.Context, store *postgres.Store, next func() []ballot.Vote) error {
	batches := make(chan []ballot.Vote)
	errs := make(chan error, drainConcurrency)
	var wg sync.WaitGroup
	for range drainConcurrency {
		wg.Go(func() {
			for batch := range batches {
				if _, err := store.Apply(ctx, batch); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	var err error
	for batch := next(); len(batch) > 0 && err == nil; batch = next() {
		select {
		case batches <- batch:
		case err = <-errs:
		}
	}
	close(batches)
	wg.Wait()
	if err == nil {
		select {
		case err = <-errs:
		default:
		}
	}
	return err
}

// awaitDrained waits until the worker w has read and acknowledged read entries of the vote stream
// in all and the inbox is empty.
func awaitDrained(ctx context.Context, rdb *redis.Client, w *service, read int64) error {
	start := time.Now()
	for {
		g, err := rdb.XInfoGroups(ctx, voteStream).Result()
		inbox, _ := rdb.LLen(ctx, queue.InboxKey(voteStream)).Result()
		if err == nil && inbox == 0 && len(g) == 1 && g[0].Pending == 0 && g[0].Lag == 0 && g[0].EntriesRead >= read {
			return nil
		}
		if time.Since(start) > 10*time.Minute {
			return errors.New("the worker did not drain the stream within 10 minutes")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-w.Done():
			return fmt.Errorf("the worker exited during the drain (%v); log %s", w.Err(), w.logPath)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// check compares the database with the expected tally: the classic GROUP BY over votes, the
// trigger-kept vote_totals, and one history row per entry.
func (b *bench) check(ctx context.Context, dbURL string, entries int64, expected map[string]int64, run *drainRun) {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		run.Problems = append(run.Problems, err.Error())
		return
	}
	defer conn.Close(ctx)
	read := func(sql string) map[string]int64 {
		got := map[string]int64{}
		rows, err := conn.Query(ctx, sql)
		if err != nil {
			run.Problems = append(run.Problems, err.Error())
			return got
		}
		var k string
		var n int64
		pgx.ForEachRow(rows, []any{&k, &n}, func() error { got[k] = n; return nil })
		return got
	}
	if got := read(`SELECT vote, count(*) FROM votes GROUP BY vote`); !maps.Equal(got, expected) {
		run.Problems = append(run.Problems, fmt.Sprintf("SELECT vote, count(*) FROM votes: %v, want %v", got, expected))
	}
	if got := read(`SELECT vote, votes FROM vote_totals WHERE votes <> 0`); !maps.Equal(got, expected) {
		run.Problems = append(run.Problems, fmt.Sprintf("vote_totals: %v, want %v", got, expected))
	}
	var history int64
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM vote_history`).Scan(&history); err != nil || history != entries {
		run.Problems = append(run.Problems, fmt.Sprintf("vote_history has %d rows, want %d (%v)", history, entries, err))
	}
	run.Exact = len(run.Problems) == 0
}
