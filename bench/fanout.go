package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/go-voting-app/voting-app/testkit/servers"
)

// fanOut is benchmark 4: one result instance holding many streams, opened by a separate process,
// while votes flow through vote and worker at the end-to-end rate.
func (b *bench) fanOut(ctx context.Context) error {
	n := b.cfg.fanOutStreams
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
	// Every stream comes from the one loopback address of the streams process, so the per-client
	// cap goes up with the replica's.
	st, err := b.startStack(ctx, pg, redisSrv, "fanout", map[string]string{
		"SSE_MAX_STREAMS":            strconv.Itoa(n + 100),
		"SSE_MAX_STREAMS_PER_CLIENT": strconv.Itoa(n + 100),
	})
	if err != nil {
		return err
	}
	defer st.stop()
	time.Sleep(time.Second)
	idle, _, _ := rss(st.result.pid())

	cmd := exec.CommandContext(ctx, b.bins.self, streamsCommand, "-url", st.result.HTTP, "-n", strconv.Itoa(n))
	cmd.SysProcAttr = servers.ChildAttr(nil)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	out := bufio.NewReader(stdout)
	line, err := out.ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "ready" {
		return fmt.Errorf("the streams process did not get ready: %q %v", line, err)
	}
	open := time.Since(start)
	b.logf("fanout: %d streams open in %s", n, open.Round(time.Millisecond))

	q0, _ := st.result.metric("result_tally_queries_total")
	e0, _ := st.result.metric("result_sse_events_sent_total")
	d0, _ := st.result.metric("result_sse_updates_dropped_total")
	fmt.Fprintln(stdin, "mark")
	m := startMeter(map[string]proc{
		"result": {pid: st.result.pid()}, "streams": {pid: cmd.Process.Pid},
		"vote": {pid: st.vote.pid()}, "worker": {pid: st.worker.pid()},
		"postgres": {pid: pg.PID(), tree: true}, "redis": {pid: redisSrv.PID()}, "bench": {pid: os.Getpid()},
	})
	mem := sampleRSS(st.result.pid(), 250*time.Millisecond)
	sent := sendVotes(ctx, st.vote.HTTP, b.cfg.e2eRate, b.cfg.fanOutDuration)
	cpu := m.stop()
	rssLoaded := mem.stop()
	q1, _ := st.result.metric("result_tally_queries_total")
	e1, _ := st.result.metric("result_sse_events_sent_total")
	d1, _ := st.result.metric("result_sse_updates_dropped_total")
	goroutines, _ := st.result.metric("go_goroutines")
	accepted := sent.accepted()
	// Let the last tally reach every stream before the window closes.
	waitFor(ctx, 30*time.Second, func() bool {
		t, err := st.result.total()
		return err == nil && t >= int64(len(accepted))
	})
	time.Sleep(time.Second)
	stdin.Close()
	var rep streamsReport
	if err := json.NewDecoder(out).Decode(&rep); err != nil {
		return fmt.Errorf("the streams process's report: %w", err)
	}
	cmd.Wait()
	if len(rep.Errors) > 0 {
		return fmt.Errorf("streams failed: %s", strings.Join(rep.Errors, "; "))
	}
	commits, err := readCommits(ctx, st.dbURL)
	if err != nil {
		return err
	}
	var firsts []tallyEvent
	for _, f := range rep.First {
		firsts = append(firsts, tallyEvent{at: time.Unix(0, f[1]), total: f[0]})
	}
	match := matchVisible(accepted, commits, firsts, 0)

	secs := cpu.Seconds
	r := &fanOutResult{Streams: n, Seconds: secs, Rate: b.cfg.e2eRate, OpenSeconds: open.Seconds(),
		QueriesPS: (q1 - q0) / secs, EventsPS: (e1 - e0) / secs, Dropped: d1 - d0,
		Lag: rep.Lag, Deliveries: rep.Deliveries, Tallies: rep.Tallies, Missed: rep.Missed,
		Visible: match.visible.summary(), CPU: cpu, RSS: rssLoaded, RSSIdle: idle, Goroutines: goroutines}
	b.noteLoaded("result", "4 fan-out", rssLoaded.Max)
	b.logf("fanout: %d streams, %.1f queries/s, %.0f events/s, lag p99 %.1f ms, rss %.1f MiB, cpu %s",
		n, r.QueriesPS, r.EventsPS, r.Lag.P99, mib(rssLoaded.Max), cpuLine(cpu))
	b.res.FanOut = r
	return nil
}

// total reads the result service's current total from /api/results.
func (s *service) total() (int64, error) {
	resp, err := httpGet(s.HTTP + "/api/results")
	if err != nil {
		return 0, err
	}
	var r struct{ Total int64 }
	if err := json.Unmarshal(resp, &r); err != nil {
		return 0, err
	}
	return r.Total, nil
}
