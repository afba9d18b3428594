package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/go-voting-app/voting-app/platform/queue"
	"github.com/go-voting-app/voting-app/testkit/servers"
)

// voteServers are the servers benchmark 1 drives, in the order each trial visits them.
var voteServers = []struct{ name, what string }{
	{"ceiling", "net/http handler, one RPUSH onto the inbox (bench/ceiling)"},
	{"vote", "the vote service, as deployed (LOG_LEVEL=info)"},
	{"vote-quiet", "the vote service without access logs (LOG_LEVEL=warn)"},
	{"vote-everysec", "the vote service on a Redis that syncs its append-only file once a second"},
}

// vote is benchmark 1: the load tool in closed loop against the vote service and against the
// ceiling, alternating, on one Redis that syncs its append-only file before every reply, as the
// deployments run it; and once more against the vote service on a Redis that syncs once a second,
// for what that durability costs.
func (b *bench) vote(ctx context.Context) error {
	cfg := b.cfg
	redis, err := servers.NewRedisFsync("always")
	if err != nil {
		return err
	}
	defer redis.Close()
	rdb := redisClient(redis)
	defer rdb.Close()
	everysec, err := servers.NewRedisFsync("everysec")
	if err != nil {
		return err
	}
	defer everysec.Close()
	rdbEverysec := redisClient(everysec)
	defer rdbEverysec.Close()

	// The vote service and the ceiling append to the inbox; no worker empties it.
	votes := queue.NewInbox(rdb, "votes:stream")
	logDir := filepath.Join(b.work, "logs")
	os.MkdirAll(logDir, 0o755)
	// All load comes from one address, so the per-client vote limit (VOTE_RATE_LIMIT) is off:
	// this measures the service, not the limit.
	voteEnv := map[string]string{"REDIS_URL": redis.URL(), "VOTE_RATE_LIMIT": "0"}
	vote, err := startService(ctx, "vote", b.bins.vote, logDir, voteEnv)
	if err != nil {
		return err
	}
	defer vote.stop()
	b.noteIdle(vote)
	quietEnv := map[string]string{"REDIS_URL": redis.URL(), "VOTE_RATE_LIMIT": "0", "LOG_LEVEL": "warn"}
	quiet, err := startService(ctx, "vote-quiet", b.bins.vote, logDir, quietEnv)
	if err != nil {
		return err
	}
	defer quiet.stop()
	lazyEnv := map[string]string{"REDIS_URL": everysec.URL(), "VOTE_RATE_LIMIT": "0"}
	lazy, err := startService(ctx, "vote-everysec", b.bins.vote, logDir, lazyEnv)
	if err != nil {
		return err
	}
	defer lazy.stop()
	ceiling, ceilingURL, err := startCeiling(ctx, b.bins.ceiling, redis.URL(), filepath.Join(logDir, "ceiling.log"))
	if err != nil {
		return err
	}
	defer func() { ceiling.Process.Kill(); ceiling.Wait() }()

	type target struct {
		url   string
		pid   int
		redis int
	}
	targets := map[string]target{
		"ceiling":       {ceilingURL, ceiling.Process.Pid, redis.PID()},
		"vote":          {vote.HTTP, vote.pid(), redis.PID()},
		"vote-quiet":    {quiet.HTTP, quiet.pid(), redis.PID()},
		"vote-everysec": {lazy.HTTP, lazy.pid(), everysec.PID()},
	}
	args := func(url string, d time.Duration) []string {
		return []string{"-target", url, "-concurrency", strconv.Itoa(cfg.voteConcurrency), "-votes", "0",
			"-duration", d.String(), "-voters", "200000", "-change", "0.3", "-json", "-progress", "0"}
	}
	res := &voteResult{Concurrency: cfg.voteConcurrency, Duration: cfg.voteDuration.Seconds(),
		Command: "loadgen " + strings.Join(args("http://127.0.0.1:PORT", cfg.voteDuration), " ")}

	// A short warm-up of each server first: connections, heap, page faults.
	for _, s := range voteServers {
		if _, _, _, err := b.loadgen(ctx, args(targets[s.name].url, time.Second), targets[s.name].pid, targets[s.name].redis); err != nil {
			return fmt.Errorf("warm-up of %s: %w", s.name, err)
		}
	}
	for trial := 1; trial <= cfg.voteTrials; trial++ {
		for _, s := range voteServers {
			rdb.Del(ctx, votes.Key()) // keep Redis's memory flat across trials
			rdbEverysec.Del(ctx, votes.Key())
			t := targets[s.name]
			rep, cpu, mem, err := b.loadgen(ctx, args(t.url, cfg.voteDuration), t.pid, t.redis)
			if err != nil {
				return fmt.Errorf("%s trial %d: %w", s.name, trial, err)
			}
			b.logf("vote: trial %d %-10s %8.0f votes/s  p99 %5.2f ms  cpu %s", trial, s.name, rep.AcceptedPerSecond, rep.Latency.P99, cpuLine(cpu))
			res.Trials = append(res.Trials, voteTrial{Server: s.name, Trial: trial, Load: rep, CPU: cpu, RSS: mem})
		}
	}
	for _, s := range voteServers {
		res.Servers = append(res.Servers, summarizeVote(s.name, s.what, res.Trials))
	}
	for i := range res.Servers {
		res.Servers[i].Ratio = pairedRatio(res.Trials, res.Servers[i].Server, "ceiling")
	}
	for _, tr := range res.Trials {
		if tr.Server == "vote" {
			b.noteLoaded("vote", "1 vote", tr.RSS.Max)
		}
	}
	b.res.Vote = res
	return nil
}

// loadgen runs the load tool with args and meters the CPU of the server, Redis and itself.
func (b *bench) loadgen(ctx context.Context, args []string, serverPID, redisPID int) (loadgenReport, cpuShare, memStats, error) {
	cmd := exec.CommandContext(ctx, b.bins.loadgen, args...)
	cmd.SysProcAttr = servers.ChildAttr(nil)
	var stdout strings.Builder
	var stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		return loadgenReport{}, cpuShare{}, memStats{}, err
	}
	m := startMeter(map[string]proc{"server": {pid: serverPID}, "redis": {pid: redisPID}})
	mem := sampleRSS(serverPID, 250*time.Millisecond)
	err := cmd.Wait()
	cpu := m.stop()
	rss := mem.stop()
	// The load tool has exited: its CPU time is in its process state, not in /proc.
	lg := (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds() / cpu.Seconds
	cpu.Cores["loadgen"] = lg
	cpu.Others = max(cpu.Others-lg, 0)
	if err != nil {
		return loadgenReport{}, cpu, rss, fmt.Errorf("loadgen: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	var rep loadgenReport
	if err := json.Unmarshal([]byte(stdout.String()), &rep); err != nil {
		return loadgenReport{}, cpu, rss, fmt.Errorf("loadgen report: %w", err)
	}
	return rep, cpu, rss, nil
}

func summarizeVote(server, what string, trials []voteTrial) voteServer {
	var tput, p50, p99, p999 []float64
	cpu := map[string][]float64{}
	s := voteServer{Server: server, What: what, CPU: map[string]float64{}}
	for _, t := range trials {
		if t.Server != server {
			continue
		}
		tput = append(tput, t.Load.AcceptedPerSecond)
		p50 = append(p50, t.Load.Latency.P50)
		p99 = append(p99, t.Load.Latency.P99)
		p999 = append(p999, t.Load.Latency.P999)
		s.Errors += t.Load.Sent - t.Load.Accepted
		for k, v := range t.CPU.Cores {
			cpu[k] = append(cpu[k], v)
		}
		cpu["others"] = append(cpu["others"], t.CPU.Others)
		s.RSS = max(s.RSS, t.RSS.Max)
	}
	s.Throughput, s.P50, s.P99, s.P999 = median(tput), median(p50), median(p99), median(p999)
	for k, v := range cpu {
		s.CPU[k] = median(v)
	}
	return s
}

// pairedRatio is the median over trials of server's throughput divided by base's in the same trial.
func pairedRatio(trials []voteTrial, server, base string) float64 {
	by := map[int]map[string]float64{}
	for _, t := range trials {
		if by[t.Trial] == nil {
			by[t.Trial] = map[string]float64{}
		}
		by[t.Trial][t.Server] = t.Load.AcceptedPerSecond
	}
	var ratios []float64
	for _, m := range by {
		if m[base] > 0 {
			ratios = append(ratios, m[server]/m[base])
		}
	}
	return median(ratios)
}

// startCeiling runs the ceiling server and returns its URL.
func startCeiling(ctx context.Context, bin, redisURL, logPath string) (*exec.Cmd, string, error) {
	cmd := exec.Command(bin, "-addr", "127.0.0.1:0", "-redis", redisURL)
	cmd.SysProcAttr = servers.ChildAttr(nil)
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, "", err
	}
	cmd.Stderr = logf
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, "", err
	}
	if err := cmd.Start(); err != nil {
		return nil, "", err
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening ")
	if err != nil || !ok {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, "", fmt.Errorf("ceiling did not start: %q %v (log %s)", line, err, logPath)
	}
	return cmd, "http://" + addr, nil
}

// noteIdle records a service's resident set two seconds after it reported ready (it stays flat
// from then on), and how long it took to get ready.
func (b *bench) noteIdle(s *service) {
	time.Sleep(2 * time.Second)
	if r, err := readResident(s.pid()); err == nil {
		b.footprint.Idle[s.name] = r.RSS
		b.footprint.IdleSplit[s.name] = r
		b.footprint.Ready[s.name] = s.Ready.Seconds()
	}
}

// noteLoaded records a service's peak resident set under a benchmark.
func (b *bench) noteLoaded(service, benchmark string, peak int64) {
	if b.footprint.Loaded[service] == nil {
		b.footprint.Loaded[service] = map[string]int64{}
	}
	b.footprint.Loaded[service][benchmark] = max(b.footprint.Loaded[service][benchmark], peak)
}

func cpuLine(c cpuShare) string {
	var parts []string
	for _, k := range sortedKeys(c.Cores) {
		parts = append(parts, fmt.Sprintf("%s %.2f", k, c.Cores[k]))
	}
	parts = append(parts, fmt.Sprintf("others %.2f", c.Others))
	return strings.Join(parts, ", ")
}
