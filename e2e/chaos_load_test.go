//go:build e2e && chaos

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/go-voting-app/voting-app/platform/queue"
)

// loadReport is the part of the load tool's -json report the test reads.
type loadReport struct {
	Seed       uint64           `json:"seed"`
	Rate       float64          `json:"rate"`
	Seconds    float64          `json:"seconds"`
	Sent       int64            `json:"sent"`
	Accepted   int64            `json:"accepted"`
	Rejected   int64            `json:"rejected"`
	Unknown    int64            `json:"unknown"`
	FirstVotes int64            `json:"first_votes"`
	Changes    int64            `json:"changes"`
	Errors     map[string]int64 `json:"errors"`
	Latency    struct {
		P50    float64 `json:"p50_ms"`
		P99    float64 `json:"p99_ms"`
		Max    float64 `json:"max_ms"`
		MaxLag float64 `json:"max_lag_ms"`
	} `json:"latency"`
}

// loadExpectation is the load tool's -expect file: each voter's last accepted vote, and the voters
// whose votes of unknown outcome leave more than one possible end ("none": no vote at all).
type loadExpectation struct {
	Voters    map[string]string   `json:"voters"`
	Uncertain map[string][]string `json:"uncertain"`
	Unnamed   map[string]struct {
		Accepted int64 `json:"accepted"`
		Unknown  int64 `json:"unknown"`
	} `json:"unnamed"`
	Counts map[string]int64 `json:"counts"`
	Exact  bool             `json:"exact"`
}

// runLoad runs the load tool's image on the project's public network against the vote service:
// an open loop at the configured rate, voter ids made by the tool (so the ledger knows every
// voter's id from the first vote), progress lines into the test log. It returns nil on failure.
func (c *chaos) runLoad(ctx context.Context, name string, seg *chaosSegment, seedOffset uint64) (*loadReport, *loadExpectation) {
	t := c.t
	container := c.s.project + "-loadgen-" + name
	// A test that stops early leaves no load tool behind (killing the docker CLI would not stop
	// the container); this runs before the stack is taken down.
	t.Cleanup(func() { run(context.Background(), c.s.root, nil, "docker", "rm", "--force", container) })
	args := []string{"run", "--rm", "--name", container,
		"--network", c.s.project + "_public",
		"--label", "com.docker.compose.project=" + c.s.project + "-loadgen",
		"--read-only", "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
		"--memory", "256m", "--pids-limit", "128", "--tmpfs", "/tmp:size=16m",
		"--volume", c.mount + ":/out",
		c.cfg.loadgenImage,
		"-target", "http://vote:8080", "-wait", "-wait-timeout", "1m",
		"-voters", strconv.Itoa(seg.voters), "-votes", strconv.Itoa(seg.votes),
		"-rate", strconv.FormatFloat(c.cfg.rate, 'f', -1, 64),
		// Room for a stall of a quarter second at 500 votes/s; a longer one delays the schedule,
		// which the report shows as the maximum lag.
		"-concurrency", "128",
		"-seed", strconv.FormatUint(c.cfg.seed+seedOffset, 10),
		"-json", "-expect", "/out/" + name + ".expect.json", "-progress", "10s",
	}
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Dir = c.s.root
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("docker run loadgen: %v", err)
	}
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		t.Logf("%s %7.1fs  %s", name, c.since().Seconds(), sc.Text())
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("load tool (%s): %v\n%s", name, err, stdout.Bytes())
		return nil, nil
	}
	if err := os.WriteFile(filepath.Join(c.out, name+".json"), stdout.Bytes(), 0o644); err != nil {
		t.Error(err)
	}
	var r loadReport
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		t.Errorf("load tool (%s) report: %v\n%s", name, err, stdout.Bytes())
		return nil, nil
	}
	raw, err := os.ReadFile(filepath.Join(c.mount, name+".expect.json"))
	if err == nil {
		err = os.WriteFile(filepath.Join(c.out, name+".expect.json"), raw, 0o644)
	}
	var e loadExpectation
	if err == nil {
		err = json.Unmarshal(raw, &e)
	}
	if err != nil {
		t.Errorf("load tool (%s) expectation: %v", name, err)
		return nil, nil
	}
	if len(e.Unnamed) > 0 {
		// Voter ids are made by the tool, so the service must have taken every one it was sent.
		t.Errorf("load tool (%s): votes counted for voters the service named itself: %v", name, e.Unnamed)
	}
	return &r, &e
}

// writeSamples saves the monitor's samples as tab-separated values, for a closer look.
func (c *chaos) writeSamples() {
	var b bytes.Buffer
	b.WriteString("seconds\tlast_delivered\tpending\toldest_pending\tentries_read\tlag\tconsumers\tworker\tdb\tredis\tvote\terror\n")
	svc := func(s serviceState) string {
		return fmt.Sprintf("%d/%d/%d/%d", s.healthy, s.running, s.paused, s.total)
	}
	count := func(n int64, known bool) string {
		if !known {
			return "?"
		}
		return strconv.FormatInt(n, 10)
	}
	for _, sm := range c.mon.snapshot() {
		g := sm.group
		fmt.Fprintf(&b, "%.2f\t%s\t%d\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", sm.at.Seconds(),
			queue.FormatID(g.lastDelivered), g.pending, queue.FormatID(g.oldestPending), count(g.entriesRead, g.readKnown), count(g.lag, g.lagKnown),
			g.consumers, svc(sm.services["worker"]), svc(sm.services["db"]), svc(sm.services["redis"]),
			svc(sm.services["vote"]), sm.groupErr)
	}
	b.WriteString("# services: healthy/running/paused/containers\n")
	if err := os.WriteFile(filepath.Join(c.out, "samples.tsv"), b.Bytes(), 0o644); err != nil {
		c.t.Error(err)
	}
}

// chaosDeadline bounds the checks after the load.
const chaosDeadline = 30 * time.Second
