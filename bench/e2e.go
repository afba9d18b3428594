package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-voting-app/voting-app/testkit/servers"

	"github.com/jackc/pgx/v5"

	"github.com/go-voting-app/voting-app/platform/ballot"
)

// stack is vote, worker and result running as processes on a fresh database and stream.
type stack struct {
	pg                   *servers.PostgresServer
	redis                *servers.RedisServer
	dbURL                string
	vote, worker, result *service
}

func (s *stack) stop() {
	for _, svc := range []*service{s.vote, s.result, s.worker} {
		if svc != nil {
			svc.stop()
		}
	}
}

// startStack starts the three services on a new database named db; resultEnv adds to the
// result service's environment.
func (b *bench) startStack(ctx context.Context, pg *servers.PostgresServer, redisSrv *servers.RedisServer, db string, resultEnv map[string]string) (*stack, error) {
	dbURL, err := pg.CreateDatabase(ctx, db)
	if err != nil {
		return nil, err
	}
	rdb := redisClient(redisSrv)
	rdb.Del(ctx, voteStream)
	rdb.Close()
	logDir := filepath.Join(b.work, "logs")
	os.MkdirAll(logDir, 0o755)
	s := &stack{pg: pg, redis: redisSrv, dbURL: dbURL}
	// The worker first: it migrates the database the result service waits for.
	if s.worker, err = startService(ctx, "worker", b.bins.worker, logDir, map[string]string{
		"DATABASE_URL": dbURL, "REDIS_URL": redisSrv.URL(), "CONSUMER_NAME": "bench"}); err != nil {
		return nil, err
	}
	env := map[string]string{"DATABASE_URL": dbURL}
	for k, v := range resultEnv {
		env[k] = v
	}
	if s.result, err = startService(ctx, "result", b.bins.result, logDir, env); err != nil {
		s.stop()
		return nil, err
	}
	if s.vote, err = startService(ctx, "vote", b.bins.vote, logDir, map[string]string{
		"REDIS_URL": redisSrv.URL(), "VOTE_RATE_LIMIT": "0"}); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

// e2eVariants are the end-to-end runs: as deployed, and with the result service's throttle
// shortened, to show how much of the time is the throttle.
var e2eVariants = []struct {
	name, settings string
	resultEnv      map[string]string
}{
	{"defaults", "as deployed (TALLY_MIN_INTERVAL=250ms, worker BATCH_SIZE=1000, CONCURRENCY=2)", nil},
	{"throttle-50ms", "result TALLY_MIN_INTERVAL=50ms", map[string]string{"TALLY_MIN_INTERVAL": "50ms"}},
}

// e2e is benchmark 3: votes at a steady rate through the whole app, each timed from its 303 to the
// first tally event on a result stream that includes it.
//
// Which event includes a vote is decided from the database, not guessed: every vote is a first
// vote of a new voter, so it adds exactly one to the total; after the run, vote_history gives each
// vote's transaction and track_commit_timestamp gives that transaction's commit time. A tally the
// result service reads sees exactly the transactions committed before its snapshot, so the total
// of every event is a prefix of the transactions in commit order (checked: off_boundary counts
// events where it is not), and a vote is included from the first event whose total reaches the
// end of its transaction's prefix.
func (b *bench) e2e(ctx context.Context) error {
	redisSrv, err := servers.NewRedis(false)
	if err != nil {
		return err
	}
	defer redisSrv.Close()
	pg, err := servers.NewPostgres(servers.PostgresSettings{Params: []string{"track_commit_timestamp=on"}})
	if err != nil {
		return err
	}
	defer pg.Close()

	for i, v := range e2eVariants {
		st, err := b.startStack(ctx, pg, redisSrv, "e2e_"+strings.ReplaceAll(v.name, "-", "_"), v.resultEnv)
		if err != nil {
			return err
		}
		if i == 0 {
			b.idleFootprint(ctx, st, pg)
		}
		r, err := b.e2eRun(ctx, st, v.name, v.settings)
		st.stop()
		if err != nil {
			return fmt.Errorf("%s: %w", v.name, err)
		}
		b.res.E2E = append(b.res.E2E, r)
	}
	return nil
}

// idleFootprint records the resident set of the result service before any load, and starts the
// analyzer once for its own.
func (b *bench) idleFootprint(ctx context.Context, st *stack, pg *servers.PostgresServer) {
	b.noteIdle(st.result)
	a, err := startService(ctx, "analyzer", b.bins.analyzer, filepath.Join(b.work, "logs"),
		map[string]string{"DATABASE_URL": st.dbURL})
	if err != nil {
		b.logf("e2e: analyzer did not start: %v", err)
		return
	}
	defer a.stop()
	b.noteIdle(a)
}

func (b *bench) e2eRun(ctx context.Context, st *stack, name, settings string) (e2eResult, error) {
	rate, d := b.cfg.e2eRate, b.cfg.e2eDuration
	var (
		mu     sync.Mutex
		events []tallyEvent
	)
	sctx, stopStream := context.WithCancel(ctx)
	defer stopStream()
	streamErr := make(chan error, 1)
	go func() {
		streamErr <- readStream(sctx, st.result.HTTP, func(at time.Time, total int64) {
			mu.Lock()
			events = append(events, tallyEvent{at: at, total: total})
			mu.Unlock()
		})
	}()
	lastTotal := func() int64 {
		mu.Lock()
		defer mu.Unlock()
		if len(events) == 0 {
			return -1
		}
		return events[len(events)-1].total
	}
	if err := waitFor(ctx, 10*time.Second, func() bool { return lastTotal() == 0 }); err != nil {
		return e2eResult{}, errors.New("no first tally on the stream")
	}

	groups := map[string]proc{
		"vote": {pid: st.vote.pid()}, "worker": {pid: st.worker.pid()}, "result": {pid: st.result.pid()},
		"postgres": {pid: st.pg.PID(), tree: true}, "redis": {pid: st.redis.PID()}, "bench": {pid: os.Getpid()},
	}
	q0, _ := st.result.metric("result_tally_queries_total")
	m := startMeter(groups)
	mems := map[string]*rssSampler{}
	for _, s := range []*service{st.vote, st.worker, st.result} {
		mems[s.name] = sampleRSS(s.pid(), 250*time.Millisecond)
	}
	sent := sendVotes(ctx, st.vote.HTTP, rate, d)
	cpu := m.stop()
	q1, _ := st.result.metric("result_tally_queries_total")
	rssOut := map[string]memStats{}
	for n, s := range mems {
		rssOut[n] = s.stop()
		b.noteLoaded(n, "3 e2e", rssOut[n].Max)
	}

	accepted := sent.accepted()
	if err := waitFor(ctx, 30*time.Second, func() bool { return lastTotal() >= int64(len(accepted)) }); err != nil {
		return e2eResult{}, fmt.Errorf("the stream shows %d votes, %d were accepted", lastTotal(), len(accepted))
	}
	stopStream()
	if err := <-streamErr; err != nil {
		return e2eResult{}, err
	}
	commits, err := readCommits(ctx, st.dbURL)
	if err != nil {
		return e2eResult{}, err
	}
	mu.Lock()
	evs := slices.Clone(events)
	mu.Unlock()
	match := matchVisible(accepted, commits, evs, 0)

	r := e2eResult{Name: name, Settings: settings, Rate: rate, Seconds: sent.seconds,
		Accepted: len(accepted), Failed: len(sent.votes) - len(accepted),
		Matched: len(match.visible), Events: len(evs), OffBoundary: match.offBoundary, Batches: match.batches,
		Visible: match.visible.summary(), Commit: match.commit.summary(), HTTP: sent.http.summary(),
		CPU: cpu, RSS: rssOut, MaxLag: ms(sent.maxLag), QueriesPS: (q1 - q0) / cpu.Seconds}
	b.logf("e2e: %-14s %d votes, visible p50 %.0f ms p99 %.0f ms max %.0f ms (commit p99 %.0f ms), %d events, off-boundary %d, cpu %s",
		name, r.Accepted, r.Visible.P50, r.Visible.P99, r.Visible.Max, r.Commit.P99, r.Events, r.OffBoundary, cpuLine(cpu))
	return r, nil
}

// tallyEvent is one tally event on a stream.
type tallyEvent struct {
	at    time.Time
	total int64
}

// commitRow is one vote's row in vote_history: its voter, transaction and commit time.
type commitRow struct {
	voter string
	tx    int64
	at    time.Time
}

func readCommits(ctx context.Context, dbURL string) ([]commitRow, error) {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return nil, err
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT voter_id, xmin::text::bigint, pg_xact_commit_timestamp(xmin) FROM vote_history`)
	if err != nil {
		return nil, fmt.Errorf("commit timestamps: %w", err)
	}
	var out []commitRow
	var c commitRow
	_, err = pgx.ForEachRow(rows, []any{&c.voter, &c.tx, &c.at}, func() error {
		out = append(out, c)
		return nil
	})
	return out, err
}

// acceptedVote is a vote the service answered with 303, and when the answer arrived.
type acceptedVote struct {
	voter string
	resp  time.Time
}

// visibility is what matchVisible found.
type visibility struct {
	visible     latencies // 303 → first event including the vote
	commit      latencies // 303 → commit of the vote's transaction
	offBoundary int       // events whose total is not the end of a transaction in commit order
	batches     int       // transactions
	unmatched   int       // accepted votes with no row, or no event reaching them
}

// matchVisible decides, for each accepted vote, the first event that includes it. Transactions are
// ordered by commit time; the votes of the first k transactions make a prefix of count C_k, and an
// event with total T (less base, the total before the run) includes exactly the transactions whose
// C_k ≤ T. Events are taken in the order they were received.
func matchVisible(votes []acceptedVote, rows []commitRow, events []tallyEvent, base int64) visibility {
	type txn struct {
		id    int64
		at    time.Time
		count int64
		end   int64 // C_k
	}
	byTx := map[int64]*txn{}
	for _, r := range rows {
		t := byTx[r.tx]
		if t == nil {
			t = &txn{id: r.tx, at: r.at}
			byTx[r.tx] = t
		}
		t.count++
	}
	txns := make([]*txn, 0, len(byTx))
	for _, t := range byTx {
		txns = append(txns, t)
	}
	slices.SortFunc(txns, func(a, b *txn) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return int(a.id - b.id)
	})
	ends := map[int64]bool{0: true}
	var cum int64
	for _, t := range txns {
		cum += t.count
		t.end = cum
		ends[cum] = true
	}
	var v visibility
	v.batches = len(txns)
	// The highest total seen so far, event by event: a vote is in from the first event whose
	// running maximum reaches its prefix (totals only grow in this benchmark; the maximum makes a
	// stray smaller total harmless).
	reach := make([]int64, len(events))
	var hi int64 = -1
	for i, e := range events {
		if !ends[e.total-base] {
			v.offBoundary++
		}
		hi = max(hi, e.total-base)
		reach[i] = hi
	}
	voterTx := map[string]*txn{}
	for _, r := range rows {
		voterTx[r.voter] = byTx[r.tx]
	}
	for _, vote := range votes {
		t, ok := voterTx[vote.voter]
		if !ok {
			v.unmatched++
			continue
		}
		v.commit = append(v.commit, t.at.Sub(vote.resp))
		i, _ := slices.BinarySearch(reach, t.end)
		if i == len(events) {
			v.unmatched++
			continue
		}
		v.visible = append(v.visible, events[i].at.Sub(vote.resp))
	}
	return v
}

// sent is what sendVotes did.
type sent struct {
	votes   []castVote
	http    latencies // from when each vote was due to its response
	maxLag  time.Duration
	seconds float64
}

type castVote struct {
	voter string
	resp  time.Time
	ok    bool
}

func (s sent) accepted() []acceptedVote {
	var out []acceptedVote
	for _, v := range s.votes {
		if v.ok {
			out = append(out, acceptedVote{voter: v.voter, resp: v.resp})
		}
	}
	return out
}

// sendVotes casts rate votes per second for d as the ballot form does, each from a new voter,
// on a fixed schedule (open loop): vote i is due at i/rate, whatever happened to the ones before.
func sendVotes(ctx context.Context, base string, rate float64, d time.Duration) sent {
	n := int(rate * d.Seconds())
	out := sent{votes: make([]castVote, n), http: make(latencies, 0, n)}
	client := &http.Client{
		Transport:     &http.Transport{MaxIdleConnsPerHost: 64, MaxConnsPerHost: 64, DisableCompression: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       5 * time.Second,
	}
	defer client.CloseIdleConnections()
	type job struct {
		i   int
		due time.Time
	}
	jobs := make(chan job, n)
	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	for range 64 {
		wg.Go(func() {
			for j := range jobs {
				voter := string(ballot.NewVoterID())
				opt := optionOf(j.i)
				if lag := time.Since(j.due); lag > 0 {
					mu.Lock()
					out.maxLag = max(out.maxLag, lag)
					mu.Unlock()
				}
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/", strings.NewReader("vote="+opt))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.AddCookie(&http.Cookie{Name: "voter_id", Value: voter})
				resp, err := client.Do(req)
				at := time.Now()
				ok := false
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					ok = resp.StatusCode == http.StatusSeeOther
				}
				mu.Lock()
				out.votes[j.i] = castVote{voter: voter, resp: at, ok: ok}
				if err == nil {
					out.http = append(out.http, at.Sub(j.due))
				}
				mu.Unlock()
			}
		})
	}
	start := time.Now()
	for i := range n {
		due := start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
		if wait := time.Until(due); wait > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(wait):
			}
		}
		if ctx.Err() != nil {
			break
		}
		jobs <- job{i: i, due: due}
	}
	close(jobs)
	wg.Wait()
	out.seconds = time.Since(start).Seconds()
	return out
}

// waitFor polls cond every 20ms until it holds or timeout passes.
func waitFor(ctx context.Context, timeout time.Duration, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return errors.New("timed out")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
