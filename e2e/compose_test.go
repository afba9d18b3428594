//go:build e2e

package e2e

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestCompose(t *testing.T) {
	s := startStack(t, envOr("E2E_PROJECT", "voting-app-e2e"), workers)
	// The tally first: it needs the stack as it came up, and the other checks change nothing.
	t.Run("tally", func(t *testing.T) { testTally(t, s) })
	t.Run("hardening", func(t *testing.T) { testHardening(t, s) })
	t.Run("networks", func(t *testing.T) { testNetworks(t, s) })
	t.Run("accounts", func(t *testing.T) { testAccounts(t, s) })
}

// testTally votes as many browsers would, some voters changing their minds, and expects the exact
// tally on the result service's event stream and JSON, and in the analyzer's summary and timeline.
func testTally(t *testing.T, s *stack) {
	voteURL := s.URL(t, "vote", "8080")
	resultURL := s.URL(t, "result", "8081")
	analyzerURL := s.URL(t, "analyzer", "8082")

	voters := 300
	if v := os.Getenv("E2E_VOTERS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("E2E_VOTERS=%q: want a positive number", v)
		}
		voters = n
	}
	plan := newPlan(voters)

	// Subscribed before the first vote, so the stream is seen to move to the final tally.
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	events := subscribe(t, ctx, resultURL+"/events")
	if first, ok := <-events; !ok {
		t.Fatal("the event stream ended before its first event")
	} else if first.Total != 0 {
		t.Fatalf("a fresh stack shows %d votes, want 0", first.Total)
	}

	start := time.Now()
	castAll(t, voteURL, plan, 16)
	t.Logf("%d voters cast %d votes (%d changed their minds) in %s; expecting %v",
		voters, plan.casts(), plan.changes(), time.Since(start).Round(time.Millisecond), plan.want())

	// Events until the final tally: the total never goes down on the way, since a vote either adds
	// a voter or moves one between options.
	var last tally
	for {
		select {
		case tl, ok := <-events:
			if !ok {
				t.Fatalf("the event stream ended; last tally %v, want %v", last.votes(), plan.want())
			}
			if tl.Total < last.Total {
				t.Errorf("total went down from %d to %d", last.Total, tl.Total)
			}
			last = tl
		case <-ctx.Done():
			t.Fatalf("no event with the final tally: last %v, want %v", last.votes(), plan.want())
		}
		if equalVotes(last.votes(), plan.want()) {
			break
		}
	}
	t.Logf("event stream reached the final tally %s after the first vote", time.Since(start).Round(time.Millisecond))
	cancel()

	var results tally
	getJSON(t, resultURL+"/api/results", &results)
	if !equalVotes(results.votes(), plan.want()) || results.Total != int64(voters) {
		t.Errorf("result /api/results: %v total %d, want %v total %d", results.votes(), results.Total, plan.want(), voters)
	}

	var summary struct {
		Total   int64   `json:"total"`
		Options []vote  `json:"options"`
		Leader  *string `json:"leader"`
	}
	getJSON(t, analyzerURL+"/api/v1/summary", &summary)
	if got := toMap(summary.Options); !equalVotes(got, plan.want()) || summary.Total != int64(voters) {
		t.Errorf("analyzer /api/v1/summary: %v total %d, want %v total %d", got, summary.Total, plan.want(), voters)
	}
	leader := "" // a tie has none
	if summary.Leader != nil {
		leader = *summary.Leader
	}
	if leader != plan.leader() {
		t.Errorf("analyzer leader %q, want %q", leader, plan.leader())
	}

	// The timeline counts every vote cast, changes included (the worker's history table).
	var timeline struct {
		Buckets []struct {
			Total int64 `json:"total"`
		} `json:"buckets"`
	}
	getJSON(t, analyzerURL+"/api/v1/timeline?bucket=1m", &timeline)
	var cast int64
	for _, b := range timeline.Buckets {
		cast += b.Total
	}
	if cast != int64(plan.casts()) {
		t.Errorf("analyzer /api/v1/timeline counts %d votes cast, want %d", cast, plan.casts())
	}
}

// testHardening checks every container of the project against what the compose file promises,
// reading the engine's view (docker inspect) and, where the engine runs on this machine, the
// kernel's view of the container's first process.
func testHardening(t *testing.T, s *stack) {
	cs := s.containers(t, t.Context())
	seen := map[string]int{}
	for _, c := range cs {
		svc := c.Service()
		seen[svc]++
		t.Run(strings.TrimPrefix(c.Name, "/"), func(t *testing.T) {
			user, ok := storeServices[svc]
			if !ok {
				user, ok = profileServices[svc]
			}
			if slices.Contains(goServices, svc) {
				user, ok = "65532:65532", true
			}
			oneShotUser, oneShot := oneShots[svc]
			if oneShot {
				user, ok = oneShotUser, true
			}
			if !ok {
				t.Fatalf("service %q is not one the test knows; add it to the test", svc)
			}
			h := c.HostConfig
			if c.Config.User != user {
				t.Errorf("user %q, want %q", c.Config.User, user)
			}
			switch {
			case oneShot && !c.done():
				t.Errorf("%s with status %d, want exited with 0", c.State.Status, c.State.ExitCode)
			case !oneShot && (c.State.Status != "running" || c.health() != "healthy"):
				t.Errorf("%s and %s, want running and healthy", c.State.Status, c.health())
			}
			if !h.ReadonlyRootfs {
				t.Error("root file system is writable")
			}
			if h.Privileged {
				t.Error("privileged")
			}
			if !slices.Equal(h.CapDrop, []string{"ALL"}) || len(h.CapAdd) != 0 {
				t.Errorf("cap_drop %v, cap_add %v; want [ALL] and none", h.CapDrop, h.CapAdd)
			}
			if !slices.ContainsFunc(h.SecurityOpt, func(o string) bool {
				return o == "no-new-privileges" || o == "no-new-privileges:true"
			}) {
				t.Errorf("security_opt %v lacks no-new-privileges", h.SecurityOpt)
			}
			if h.Memory <= 0 || h.NanoCpus <= 0 || h.PidsLimit == nil || *h.PidsLimit <= 0 {
				t.Errorf("limits: memory %d, nano CPUs %d, pids %v; want all set", h.Memory, h.NanoCpus, h.PidsLimit)
			}
			var published []string
			for port, bindings := range c.NetworkSettings.Ports {
				if len(bindings) > 0 {
					published = append(published, port)
				}
			}
			if want := publishedPorts[svc]; !slices.Equal(published, nonEmpty(want)) {
				t.Errorf("published ports %v, want %v", published, nonEmpty(want))
			}
			if !oneShot {
				checkProcess(t, c, user)
			}
		})
	}
	for _, svc := range append(slices.Clone(goServices), "db", "redis", "secrets-init") {
		want := 1
		if svc == "worker" {
			want = workers
		}
		if seen[svc] != want {
			t.Errorf("%d containers of %s, want %d", seen[svc], svc, want)
		}
	}
}

// checkProcess reads /proc/<pid>/status of the container's first process: its user, that it holds
// no capability at all (effective, permitted, bounding) and that it cannot gain privileges. It is
// skipped when the engine's processes are not visible here (a remote engine or a VM).
func checkProcess(t *testing.T, c container, user string) {
	t.Helper()
	pid := strconv.Itoa(c.State.Pid)
	cg, err := os.ReadFile(filepath.Join("/proc", pid, "cgroup"))
	if err != nil || !strings.Contains(string(cg), c.ID) {
		t.Logf("process %s of the container is not visible from here; relying on docker inspect", pid)
		return
	}
	status, err := os.ReadFile(filepath.Join("/proc", pid, "status"))
	if err != nil {
		t.Fatal(err)
	}
	fields := map[string]string{}
	for line := range strings.Lines(string(status)) {
		k, v, _ := strings.Cut(line, ":")
		fields[k] = strings.Join(strings.Fields(v), " ")
	}
	uid, gid, _ := strings.Cut(user, ":")
	for k, want := range map[string]string{
		"Uid":        strings.Repeat(uid+" ", 3) + uid,
		"Gid":        strings.Repeat(gid+" ", 3) + gid,
		"CapEff":     "0000000000000000",
		"CapPrm":     "0000000000000000",
		"CapBnd":     "0000000000000000",
		"NoNewPrivs": "1",
	} {
		if fields[k] != want {
			t.Errorf("/proc/%s/status %s: %q, want %q", pid, k, fields[k], want)
		}
	}
}

// testNetworks proves from inside each Go service's network namespace what it can reach: a small
// probe binary is copied into a container that shares the service container's network (and its
// DNS), and dials the stores by name and by address. By address matters: a name that does not
// resolve proves little, a connection that cannot be made proves the networks are apart.
func testNetworks(t *testing.T, s *stack) {
	probe := buildProbe(t, s)
	db := s.service(t, "db")[0].IP(s, "store")
	redis := s.service(t, "redis")[0].IP(s, "queue")
	if db == "" || redis == "" {
		t.Fatalf("db on store %q, redis on queue %q: want both attached", db, redis)
	}
	dbAddr, redisAddr := db+":5432", redis+":6379"
	cases := []struct {
		service      string
		reach, never []string
	}{
		{"vote", []string{"redis:6379"}, []string{"db:5432", dbAddr}},
		{"worker", []string{"redis:6379", "db:5432"}, nil},
		{"result", []string{"db:5432"}, []string{"redis:6379", redisAddr}},
		{"analyzer", []string{"db:5432"}, []string{"redis:6379", redisAddr}},
	}
	for _, tc := range cases {
		t.Run(tc.service, func(t *testing.T) {
			c := s.service(t, tc.service)[0]
			got := runProbe(t, s, probe, c, append(slices.Clone(tc.reach), tc.never...))
			for _, addr := range tc.reach {
				if r := got[addr]; !r.OK {
					t.Errorf("%s cannot reach %s: %s", tc.service, addr, r.Error)
				}
			}
			for _, addr := range tc.never {
				if r := got[addr]; r.OK {
					t.Errorf("%s reaches %s; it must not", tc.service, addr)
				} else {
					t.Logf("%s → %s refused as it should be: %s", tc.service, addr, r.Error)
				}
			}
		})
	}
}

// buildProbe compiles netprobe for the engine's architecture.
func buildProbe(t *testing.T, s *stack) string {
	t.Helper()
	arch, err := run(t.Context(), s.root, nil, "docker", "version", "--format", "{{.Server.Arch}}")
	if err != nil {
		t.Fatalf("docker version: %v\n%s", err, arch)
	}
	bin := filepath.Join(t.TempDir(), "netprobe")
	env := []string{"CGO_ENABLED=0", "GOOS=linux", "GOARCH=" + strings.TrimSpace(string(arch)), "GOWORK=off"}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	// go test puts its own toolchain first in PATH.
	if out, err := run(t.Context(), wd, env, "go", "build", "-o", bin, "./netprobe"); err != nil {
		t.Fatalf("building netprobe: %v\n%s", err, out)
	}
	return bin
}

// runProbe runs the probe in the network namespace of c, in a container of c's own image (it is
// here, and of the engine's architecture), without privileges, and returns the result per address.
func runProbe(t *testing.T, s *stack, probe string, c container, addrs []string) map[string]probeResult {
	t.Helper()
	ctx := t.Context()
	args := []string{"create", "--network", "container:" + c.ID, "--user", "65532:65532",
		"--cap-drop", "ALL", "--security-opt", "no-new-privileges", "--no-healthcheck",
		"--label", "com.docker.compose.project=" + s.project + "-probe",
		"--entrypoint", "/netprobe", c.Image, "-timeout", "2s"}
	out, err := run(ctx, s.root, nil, "docker", append(args, addrs...)...)
	if err != nil {
		t.Fatalf("docker create: %v\n%s", err, out)
	}
	id := strings.TrimSpace(string(out))
	t.Cleanup(func() { run(context.Background(), s.root, nil, "docker", "rm", "--force", id) })
	if out, err := run(ctx, s.root, nil, "docker", "cp", probe, id+":/netprobe"); err != nil {
		t.Fatalf("docker cp: %v\n%s", err, out)
	}
	out, err = run(ctx, s.root, nil, "docker", "start", "--attach", id)
	if err != nil {
		t.Fatalf("netprobe in %s: %v\n%s", c.Name, err, out)
	}
	return parseProbe(t, out)
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

func toMap(vs []vote) map[string]int64 {
	m := make(map[string]int64, len(vs))
	for _, v := range vs {
		m[v.Key] = v.Votes
	}
	return m
}

func equalVotes(a, b map[string]int64) bool {
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	for k, v := range b {
		if a[k] != v {
			return false
		}
	}
	return true
}

func (t tally) String() string { return fmt.Sprint(t.votes()) }

// testAccounts checks that each account in the stores can do only its own job, by running the
// stores' own clients inside their containers: Redis without a password answers nothing, the
// healthcheck user only PING, the vote user cannot read or delete; the readers' database roles
// cannot write, and the worker's cannot create schemas.
func testAccounts(t *testing.T, s *stack) {
	password := s.secret(t, "redis_vote_password")
	redis := func(user string, args ...string) string {
		exec := []string{"exec", "-T"}
		switch user {
		case "":
		case "healthcheck":
			exec = append(exec, "--env", "REDISCLI_AUTH=none")
		case "default": // the administrator
			exec = append(exec, "--env", "REDISCLI_AUTH="+s.secret(t, "redis_admin_password"))
		default:
			exec = append(exec, "--env", "REDISCLI_AUTH="+password)
		}
		exec = append(exec, "redis", "redis-cli")
		if user != "" && user != "default" {
			exec = append(exec, "--user", user)
		}
		out, err := s.compose(t.Context(), append(exec, args...)...)
		if err != nil {
			t.Fatalf("redis-cli %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	if got := redis("healthcheck", "PING"); got != "PONG" {
		t.Errorf("PING as the healthcheck user: %q, want PONG", got)
	}
	// A vote is acknowledged once Redis has it on disk: the running server's settings, not just
	// the compose file's (deploytest reads that).
	for name, want := range map[string]string{"appendonly": "yes", "appendfsync": "always", "maxmemory-policy": "noeviction"} {
		if got := strings.Fields(redis("default", "CONFIG", "GET", name)); !slices.Equal(got, []string{name, want}) {
			t.Errorf("CONFIG GET %s as the administrator: %q, want %s", name, got, want)
		}
	}
	for _, args := range [][]string{{"PING"}, {"XRANGE", "votes:stream", "-", "+"}, {"FLUSHALL"}} {
		if got := redis("", args...); !strings.HasPrefix(got, "NOAUTH") {
			t.Errorf("%v without a password: %q, want NOAUTH", args, got)
		}
	}
	for _, tc := range []struct {
		user string
		args []string
	}{
		{"healthcheck", []string{"XRANGE", "votes:stream", "-", "+"}},
		{"healthcheck", []string{"FLUSHALL"}},
		{"healthcheck", []string{"CONFIG", "GET", "*"}},
		{"vote", []string{"XRANGE", "votes:stream", "-", "+"}},
		{"vote", []string{"DEL", "votes:stream"}},
		{"vote", []string{"FLUSHALL"}},
		{"vote", []string{"XADD", "elsewhere", "*", "vote", "a"}},
		// The vote service appends to the inbox and can do nothing else: not trim the stream with
		// XADD's MAXLEN, not touch the inbox but to append.
		{"vote", []string{"XADD", "votes:stream", "MAXLEN", "0", "*", "vote", "a"}},
		{"vote", []string{"XTRIM", "votes:stream", "MAXLEN", "0"}},
		{"vote", []string{"LTRIM", "votes:stream:inbox", "0", "0"}},
		{"vote", []string{"LPOP", "votes:stream:inbox"}},
	} {
		if got := redis(tc.user, tc.args...); !strings.HasPrefix(got, "NOPERM") {
			t.Errorf("redis user %q %v: %q, want NOPERM", cmp.Or(tc.user, "default"), tc.args, got)
		}
	}

	// Over the Unix socket, which trusts the role name: what a role may do is the question here,
	// not its password. Each command runs in its own transaction.
	psql := func(role string, commands ...string) error {
		args := []string{"exec", "-T", "db", "psql", "--no-psqlrc", "--quiet", "--set", "ON_ERROR_STOP=1",
			"--username", role, "--dbname", "votes"}
		for _, c := range commands {
			args = append(args, "--command", c)
		}
		if out, err := s.compose(t.Context(), args...); err != nil {
			return fmt.Errorf("%w: %s", err, bytes.TrimSpace(out))
		}
		return nil
	}
	for _, role := range []string{"result", "analyzer"} {
		if err := psql(role, "SELECT count(*) FROM votes"); err != nil {
			t.Errorf("%s cannot read votes: %v", role, err)
		}
		for _, commands := range [][]string{
			{"DELETE FROM votes"},
			{"UPDATE vote_totals SET votes = 0"},
			{"CREATE TEMPORARY TABLE t (x int)"},
			// Past the read-only session default, the missing privilege still stops it.
			{"SET default_transaction_read_only = off", "DELETE FROM votes"},
			{"SET default_transaction_read_only = off", "CREATE TABLE t (x int)"},
		} {
			if err := psql(role, commands...); err == nil {
				t.Errorf("%s may run %q; it must only read", role, commands)
			}
		}
	}
	if err := psql("worker", "CREATE SCHEMA elsewhere"); err == nil {
		t.Error("worker may create schemas; it must only own the tables of schema public")
	}
}
