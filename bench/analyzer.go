package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/go-voting-app/voting-app/platform/ballot"
	"github.com/go-voting-app/voting-app/platform/postgres"
	"github.com/go-voting-app/voting-app/platform/postgres/migrations"
	"github.com/go-voting-app/voting-app/platform/queue"
	"github.com/go-voting-app/voting-app/testkit/servers"
)

// historySpan is how far back the preloaded history reaches: the analyzer's longest window.
const historySpan = 7 * 24 * time.Hour

// readEndpoint is one public read endpoint of the analyzer or the result service, and how a
// client varies its parameters: nil when it takes none.
type readEndpoint struct {
	service string // analyzer or result
	path    string
	params  func(r *rand.Rand, now time.Time) url.Values
}

// readEndpoints are every public GET endpoint of the two read services but the event stream (the
// fanout section holds thousands of those).
var readEndpoints = []readEndpoint{
	{"analyzer", "/api/v1/summary", nil},
	{"analyzer", "/api/v1/timeline", timelineParams},
	{"analyzer", "/api/v1/momentum", momentumParams},
	{"analyzer", "/api/v1/anomalies", anomalyParams},
	{"analyzer", "/api/v1/insight", nil},
	{"analyzer", "/api/v1/openapi.yaml", nil},
	{"result", "/api/results", nil},
	{"result", "/", nil},
}

// bucketChoices are bucket widths a client picks from: whole multiples of the 10-second interval
// the votes are counted in, from the finest to a day.
var bucketChoices = []time.Duration{10 * time.Second, 30 * time.Second, time.Minute, 5 * time.Minute,
	15 * time.Minute, time.Hour, 6 * time.Hour, 24 * time.Hour}

// timelineParams: a bucket width and a span of at most 1,000 of them inside the last 7 days, at a
// random second: nearly every such URL is new to the analyzer's cache.
func timelineParams(r *rand.Rand, now time.Time) url.Values {
	bucket := bucketChoices[r.IntN(len(bucketChoices))]
	n := 1 + r.Int64N(min(1000, int64(historySpan/bucket)))
	span := time.Duration(n) * bucket
	to := now.Add(-time.Duration(r.Int64N(int64(historySpan-span)/int64(time.Second)+1)) * time.Second)
	return url.Values{"bucket": {bucket.String()}, "from": {to.Add(-span).UTC().Format(time.RFC3339)},
		"to": {to.UTC().Format(time.RFC3339)}}
}

// momentumParams: a window of a random number of seconds from a minute to 7 days.
func momentumParams(r *rand.Rand, _ time.Time) url.Values {
	w := time.Minute + time.Duration(r.Int64N(int64((historySpan-time.Minute)/time.Second)))*time.Second
	return url.Values{"window": {w.String()}}
}

// anomalyParams: a bucket width and a window of 10 to 1,000 buckets within 7 days, and a
// threshold.
func anomalyParams(r *rand.Rand, _ time.Time) url.Values {
	var bucket time.Duration
	for bucket == 0 || historySpan/bucket < 10 {
		bucket = bucketChoices[r.IntN(len(bucketChoices))]
	}
	n := 10 + r.Int64N(min(1000, int64(historySpan/bucket))-9)
	return url.Values{"bucket": {bucket.String()}, "window": {(time.Duration(n) * bucket).String()},
		"threshold": {strconv.FormatFloat(2+3*r.Float64(), 'f', 2, 64)}, "min_changes": {strconv.Itoa(1 + r.IntN(5))}}
}

// analyzerLoad is benchmark 7: the read services under many clients while the worker drains a
// backlog. The database holds a week of history first; then drains of the same size alternate
// between no read load and readClients clients over every read endpoint, each drain of new
// voters, so that every one does the same work.
func (b *bench) analyzerLoad(ctx context.Context) error {
	cfg := b.cfg
	redisSrv, err := servers.NewRedis(false)
	if err != nil {
		return err
	}
	defer redisSrv.Close()
	rdb := redisClient(redisSrv)
	defer rdb.Close()
	pg, err := servers.NewPostgres(servers.PostgresSettings{Durable: true})
	if err != nil {
		return err
	}
	defer pg.Close()
	dbURL, err := pg.CreateDatabase(ctx, "analyzer_load")
	if err != nil {
		return err
	}

	res := &analyzerResult{History: cfg.analyzerHistory, HistoryVoters: cfg.analyzerHistory / 5, Drain: cfg.analyzerDrain,
		DrainVoters: cfg.analyzerDrain / 3, Clients: cfg.analyzerClients}
	start := time.Now()
	if err := loadHistory(ctx, dbURL, res.History, res.HistoryVoters); err != nil {
		return fmt.Errorf("history: %w", err)
	}
	res.HistorySeconds = time.Since(start).Seconds()
	b.logf("analyzer: %d history rows from %d voters over %s in %s", res.History, res.HistoryVoters, historySpan,
		time.Since(start).Round(100*time.Millisecond))

	logDir := filepath.Join(b.work, "logs")
	os.MkdirAll(logDir, 0o755)
	worker, err := startService(ctx, "worker", b.bins.worker, logDir,
		map[string]string{"DATABASE_URL": dbURL, "REDIS_URL": redisSrv.URL(), "CONSUMER_NAME": "bench"})
	if err != nil {
		return err
	}
	defer worker.stop()
	analyzer, err := startService(ctx, "analyzer", b.bins.analyzer, logDir, map[string]string{"DATABASE_URL": dbURL})
	if err != nil {
		return err
	}
	defer analyzer.stop()
	result, err := startService(ctx, "result", b.bins.result, logDir, map[string]string{"DATABASE_URL": dbURL})
	if err != nil {
		return err
	}
	defer result.stop()
	bases := map[string]string{"analyzer": analyzer.HTTP, "result": result.HTTP}
	groups := map[string]proc{"postgres": {pid: pg.PID(), tree: true}, "redis": {pid: redisSrv.PID()},
		"worker": {pid: worker.pid()}, "analyzer": {pid: analyzer.pid()}, "result": {pid: result.pid()},
		"clients": {pid: os.Getpid()}}

	drained := int64(0) // entries the worker has read so far, over all drains
	voterBase := res.HistoryVoters
	for trial := 1; trial <= cfg.analyzerTrials; trial++ {
		// Alternate which comes first, so that drift over the run (the history grows by every
		// drain) falls on both alike.
		order := []bool{false, true}
		if trial%2 == 0 {
			order = []bool{true, false}
		}
		for _, loaded := range order {
			if _, _, err := preloadFrom(ctx, rdb, templateStream, res.Drain, res.DrainVoters, voterBase); err != nil {
				return err
			}
			voterBase += res.DrainVoters
			run, err := b.readLoadDrain(ctx, rdb, worker, bases, groups, loaded, &drained)
			if err != nil {
				return fmt.Errorf("trial %d (loaded %t): %w", trial, loaded, err)
			}
			run.Trial = trial
			res.Runs = append(res.Runs, run)
			b.logf("analyzer: trial %d loaded=%t: drain %8.0f votes/s, %s requests, postgres %.2f cores", trial, loaded,
				run.VotesPS, num(float64(run.Requests)), run.CPU.Cores["postgres"])
		}
	}
	if err := countHistory(ctx, dbURL, &res.HistoryAfter); err != nil {
		return err
	}
	b.res.Analyzer = res
	return nil
}

// readLoadDrain copies the preloaded inbox to the app's and times the running worker until it has
// read and acknowledged all of it; with loaded, readClients clients read all the while, from a
// second before the copy.
func (b *bench) readLoadDrain(ctx context.Context, rdb *redis.Client, worker *service, bases map[string]string,
	groups map[string]proc, loaded bool, drained *int64) (analyzerRun, error) {
	run := analyzerRun{Loaded: loaded}
	var load *readLoad
	if loaded {
		load = startReadLoad(ctx, b.cfg.analyzerClients, bases)
		time.Sleep(time.Second) // connections, the services' caches and pools warm up
		load.record.Store(true)
	}
	m := startMeter(groups)
	start := time.Now()
	if err := rdb.Copy(ctx, queue.InboxKey(templateStream), queue.InboxKey(voteStream), 0, true).Err(); err != nil {
		return run, fmt.Errorf("copy the preloaded inbox: %w", err)
	}
	*drained += int64(b.cfg.analyzerDrain)
	if err := awaitDrained(ctx, rdb, worker, *drained); err != nil {
		return run, err
	}
	elapsed := time.Since(start)
	run.CPU = m.stop()
	run.Seconds = elapsed.Seconds()
	run.VotesPS = float64(b.cfg.analyzerDrain) / elapsed.Seconds()
	if load != nil {
		run.Endpoints = load.stop()
		for _, e := range run.Endpoints {
			run.Requests += e.Requests
		}
	}
	return run, nil
}

// readLoad is clients closed-loop clients, each going round every read endpoint from its own
// starting point, half the time with the endpoint's default parameters (what a dashboard asks)
// and half with random ones (what defeats a cache). They send If-None-Match with the last ETag
// of a URL, and after a 503 wait its Retry-After as an HTTP client should: one that does not is
// a flood, which no cost bound makes cheap.
type readLoad struct {
	record atomic.Bool
	cancel context.CancelFunc
	wg     sync.WaitGroup
	stats  []*clientStats
}

type clientStats struct {
	latency map[string]latencies
	status  map[string]map[int]int
	errs    map[string]int
}

func startReadLoad(ctx context.Context, clients int, bases map[string]string) *readLoad {
	ctx, cancel := context.WithCancel(ctx)
	l := &readLoad{cancel: cancel}
	transport := &http.Transport{MaxIdleConns: 2 * clients, MaxIdleConnsPerHost: clients, IdleConnTimeout: time.Minute}
	hc := &http.Client{Transport: transport, Timeout: 30 * time.Second}
	for c := range clients {
		st := &clientStats{latency: map[string]latencies{}, status: map[string]map[int]int{}, errs: map[string]int{}}
		l.stats = append(l.stats, st)
		l.wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(c), 7))
			etags := map[string]string{}
			for i := c; ctx.Err() == nil; i++ {
				e := readEndpoints[i%len(readEndpoints)]
				u := bases[e.service] + e.path
				if e.params != nil && r.IntN(2) == 0 {
					u += "?" + e.params(r, time.Now()).Encode()
				}
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
				if tag, ok := etags[u]; ok {
					req.Header.Set("If-None-Match", tag)
				}
				t := time.Now()
				resp, err := hc.Do(req)
				if err != nil {
					if ctx.Err() == nil && l.record.Load() {
						st.errs[e.path]++
					}
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				d := time.Since(t)
				if tag := resp.Header.Get("ETag"); tag != "" {
					etags[u] = tag
				}
				if l.record.Load() {
					st.latency[e.path] = append(st.latency[e.path], d)
					if st.status[e.path] == nil {
						st.status[e.path] = map[int]int{}
					}
					st.status[e.path][resp.StatusCode]++
				}
				if resp.StatusCode == http.StatusServiceUnavailable || resp.StatusCode == http.StatusTooManyRequests {
					wait, err := strconv.Atoi(resp.Header.Get("Retry-After"))
					if err != nil || wait < 1 {
						wait = 1
					}
					select {
					case <-ctx.Done():
					case <-time.After(time.Duration(wait) * time.Second):
					}
				}
			}
		})
	}
	return l
}

// stop ends the load and sums the clients' figures per endpoint, in readEndpoints' order.
func (l *readLoad) stop() []endpointStats {
	l.record.Store(false)
	l.cancel()
	l.wg.Wait()
	var out []endpointStats
	for _, e := range readEndpoints {
		es := endpointStats{Service: e.service, Path: e.path, Status: map[string]int{}}
		var all latencies
		for _, st := range l.stats {
			all = append(all, st.latency[e.path]...)
			for code, n := range st.status[e.path] {
				es.Status[strconv.Itoa(code)] += n
				es.Requests += n
			}
			es.Errors += st.errs[e.path]
		}
		es.Latency = all.summary()
		out = append(out, es)
	}
	return out
}

// loadHistory writes n votes from voters voters, cast evenly over the last historySpan, with the
// worker's own batch writer (postgres.Store.Apply), so that every table the triggers keep (totals,
// rollups, changes) is as the worker would have left it; then vacuums and analyzes, as autovacuum
// would have by then. Each vote is from a voter drawn at random, who keeps to one option (two
// thirds prefer the first) but one time in ten votes for the other: a week of ordinary voting, with
// voters who changed their mind once or many times.
func loadHistory(ctx context.Context, dbURL string, n, voters int) error {
	pool, err := postgres.Open(ctx, postgres.Config{URL: dbURL, AppName: "bench-history", MaxConns: drainConcurrency})
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := migrations.Up(ctx, pool, discardLogger()); err != nil {
		return err
	}
	end := time.Now().Add(-time.Minute)
	step := historySpan / time.Duration(n)
	r := rand.New(rand.NewPCG(uint64(n), uint64(voters)))
	i := 0
	next := func() []ballot.Vote {
		batch := make([]ballot.Vote, 0, drainBatch)
		for ; i < n && len(batch) < drainBatch; i++ {
			at := end.Add(-historySpan + time.Duration(i)*step).Truncate(time.Millisecond)
			v := r.IntN(voters)
			option := []string{ballot.KeyA, ballot.KeyB}[v%3%2]
			if r.IntN(10) == 0 {
				option = []string{ballot.KeyB, ballot.KeyA}[v%3%2]
			}
			batch = append(batch, ballot.Vote{Position: ballot.Position{Ms: at.UnixMilli(), Seq: int64(i)},
				Voter: fmt.Sprintf("%032x", v), Option: option, CastAt: at.UTC()})
		}
		return batch
	}
	if err := applyAll(ctx, postgres.NewStore(pool), next); err != nil {
		return err
	}
	_, err = pool.Exec(ctx, "VACUUM ANALYZE")
	return err
}

func countHistory(ctx context.Context, dbURL string, n *int64) error {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	return conn.QueryRow(ctx, `SELECT count(*) FROM vote_history`).Scan(n)
}
