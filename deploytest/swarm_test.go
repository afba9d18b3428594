//go:build swarm

package deploytest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

// The swarm test turns this engine into a one-node swarm, deploys deploy/swarm/stack.yml with the
// images built here (nothing is pulled), votes through the published ports, checks the tally on
// every result replica and the analyzer, then removes the stack and leaves the swarm, whatever
// happened. Environment:
//
//	SWARM_ENV_FILE   variables for the stack, relative to the repository root, as compose's
//	                 --env-file (deploy/compose/offline.env for the local stand-in images)
//	SWARM_VOTERS     how many voters vote (default 200)
//	SWARM_PUBLISH    ingress or host: how ports are published (default: ingress where the kernel
//	                 has IPVS, which the routing mesh needs, host elsewhere)
const (
	swarmStack = "voting-app-swarmtest"
	// ownerLabel marks the node of a swarm this test created, so that a later run can tell a swarm
	// a killed run left behind from somebody else's.
	ownerLabel = "voting-app.swarm-test"
)

// swarmServices and the replicas stack.yml asks for.
var swarmServices = map[string]int{"vote": 2, "worker": 2, "result": 2, "analyzer": 1, "db": 1, "redis": 1}

// TestSwarmStackConfig: `docker stack config` loads the stack file as `docker stack deploy` does
// (schema, interpolation, merges), without touching the engine. Which options Swarm ignores only
// deploy says; TestSwarm checks that, and TestStackFollowsSwarmRules the keys themselves.
func TestSwarmStackConfig(t *testing.T) {
	root := repoRoot(t)
	needDocker(t)
	out, stderr, err := dockerRun(t.Context(), root, stackEnv(t, root, false), "stack", "config", "--compose-file", "deploy/swarm/stack.yml")
	if err != nil {
		t.Fatalf("docker stack config: %v\n%s", err, stderr)
	}
	if strings.TrimSpace(stderr) != "" {
		t.Errorf("docker stack config warns:\n%s", stderr)
	}
	var cfg struct {
		Services map[string]struct{ Image string }
	}
	if err := yaml.Unmarshal([]byte(out), &cfg); err != nil {
		t.Fatalf("docker stack config output: %v", err)
	}
	if len(cfg.Services) != len(swarmServices) {
		t.Errorf("docker stack config: %d services, want %d", len(cfg.Services), len(swarmServices))
	}
}

func TestSwarm(t *testing.T) {
	root := repoRoot(t)
	needDocker(t)
	if dl, ok := t.Deadline(); ok && time.Until(dl) < 6*time.Minute {
		t.Fatalf("the swarm test needs up to 5 minutes plus its cleanup: run it with -timeout 8m (it has %s)", time.Until(dl).Round(time.Second))
	}
	// Everything but the cleanup must be done within this; the cleanup has its own time.
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()

	voters := 200
	if s := os.Getenv("SWARM_VOTERS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("SWARM_VOTERS=%q: want a positive number", s)
		}
		voters = n
	}
	mesh, why := routingMesh()
	env := stackEnv(t, root, !mesh)
	if mesh {
		t.Log("publishing through the routing mesh (ingress), virtual IPs")
	} else {
		t.Logf("no routing mesh: %s. Publishing each task's port on the node (mode host, a free port each) and resolving services to their tasks (dnsrr); votes go to every vote task in turn", why)
	}
	images := stackImages(t, ctx, root, env)
	for _, img := range images {
		if _, stderr, err := dockerRun(ctx, root, nil, "image", "inspect", "--format", "{{.Id}}", img); err != nil {
			t.Fatalf("image %s is not on this engine (nothing can be pulled for a local test): build it with `make images` (%v: %s)", img, err, strings.TrimSpace(stderr))
		}
	}

	start := time.Now()
	joinSwarm(t, ctx, root)
	deployStack(t, ctx, root, env)
	waitConverged(t, ctx, root)
	t.Logf("stack %s deployed, every task running and healthy after %s", swarmStack, time.Since(start).Round(100*time.Millisecond))

	checkHardening(t, ctx, root)

	votes := publishedURLs(t, ctx, root, "vote", 8080, mesh)
	results := publishedURLs(t, ctx, root, "result", 8081, mesh)
	analyzer := publishedURLs(t, ctx, root, "analyzer", 8082, mesh)
	t.Logf("vote at %v, result at %v, analyzer at %v", votes, results, analyzer)

	p := newBallots(voters)
	castStart := time.Now()
	castBallots(t, ctx, votes, p)
	want := p.tally()
	t.Logf("%d voters cast %d votes (%d changed their minds, on another vote task where there is one) in %s; expected tally %v",
		voters, p.casts(), p.casts()-voters, time.Since(castStart).Round(time.Millisecond), want)

	for _, u := range results {
		got := waitTally(t, ctx, u+"/api/results", want)
		t.Logf("%s/api/results: %v", u, got)
		// A new event stream starts with the current tally, whichever replica it reaches: no
		// sticky sessions needed.
		if ev := firstEvent(t, ctx, u+"/events"); !sameTally(ev.votes(), want) {
			t.Errorf("%s/events: first tally %v, want %v", u, ev.votes(), want)
		}
	}
	for _, u := range analyzer {
		var s struct {
			Total   int64
			Options []struct {
				Key   string
				Votes int64
			}
		}
		getJSON(t, ctx, u+"/api/v1/summary", &s)
		got := map[string]int64{}
		for _, o := range s.Options {
			got[o.Key] = o.Votes
		}
		if !sameTally(got, want) || s.Total != int64(voters) {
			t.Errorf("%s/api/v1/summary: total %d, votes %v; want %d, %v", u, s.Total, got, voters, want)
		}
	}
	t.Logf("whole run before cleanup: %s", time.Since(start).Round(100*time.Millisecond))
}

func needDocker(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("docker"); err != nil {
		t.Fatal("the docker CLI is needed: install Docker (the engine and the CLI)")
	}
	if _, stderr, err := dockerRun(t.Context(), "", nil, "version", "--format", "{{.Server.Version}}"); err != nil {
		t.Fatalf("no Docker engine answers: %v\n%s", err, stderr)
	}
}

// routingMesh reports whether Swarm's routing mesh can work here, and if not, why. It needs the
// kernel's IPVS, loaded or loadable.
func routingMesh() (bool, string) {
	switch os.Getenv("SWARM_PUBLISH") {
	case "ingress":
		return true, ""
	case "host":
		return false, "SWARM_PUBLISH=host"
	}
	if _, err := os.Stat("/proc/sys/net/ipv4/vs"); err == nil {
		return true, ""
	}
	uname, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err == nil {
		mods, _ := filepath.Glob(filepath.Join("/lib/modules", strings.TrimSpace(string(uname)), "kernel/net/netfilter/ipvs/ip_vs.ko*"))
		if len(mods) > 0 {
			return true, ""
		}
	}
	return false, "this kernel has no IPVS (/proc/sys/net/ipv4/vs is missing and no ip_vs module exists), which the routing mesh and virtual IPs need"
}

// stackEnv is the environment of every docker stack command: the env file's variables (the
// environment wins, as with compose), the secrets in a temporary directory, any free ports.
func stackEnv(t *testing.T, root string, hostMode bool) []string {
	t.Helper()
	var env []string
	if f := os.Getenv("SWARM_ENV_FILE"); f != "" {
		if !filepath.IsAbs(f) {
			f = filepath.Join(root, f)
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatalf("SWARM_ENV_FILE: %v", err)
		}
		for line := range strings.Lines(string(b)) {
			line = strings.TrimSpace(line)
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			if name, _, _ := strings.Cut(line, "="); os.Getenv(name) == "" {
				env = append(env, line)
			}
		}
	}
	env = append(env, "SECRETS_DIR="+t.TempDir(), "VOTE_PORT=0", "RESULT_PORT=0", "ANALYZER_PORT=0")
	if hostMode {
		env = append(env, "PUBLISH_MODE=host", "ENDPOINT_MODE=dnsrr")
	}
	return env
}

// stackImages lists the images the stack runs, as docker stack config interpolates them.
func stackImages(t *testing.T, ctx context.Context, root string, env []string) []string {
	t.Helper()
	out, stderr, err := dockerRun(ctx, root, env, "stack", "config", "--compose-file", "deploy/swarm/stack.yml")
	if err != nil {
		t.Fatalf("docker stack config: %v\n%s", err, stderr)
	}
	var cfg struct {
		Services map[string]struct{ Image string }
	}
	if err := yaml.Unmarshal([]byte(out), &cfg); err != nil {
		t.Fatal(err)
	}
	var images []string
	for _, s := range cfg.Services {
		if !slices.Contains(images, s.Image) {
			images = append(images, s.Image)
		}
	}
	slices.Sort(images)
	return images
}

// joinSwarm makes this engine a one-node swarm and registers leaving it. A swarm somebody else
// made is left alone: the test stops instead.
func joinSwarm(t *testing.T, ctx context.Context, root string) {
	t.Helper()
	state := dockerOut(t, ctx, root, "info", "--format", "{{.Swarm.LocalNodeState}}")
	switch state {
	case "inactive":
	case "active":
		owned := dockerOut(t, ctx, root, "node", "inspect", "self", "--format", `{{index .Spec.Labels "`+ownerLabel+`"}}`)
		if owned != "owned" {
			t.Fatalf("this engine is already part of a swarm the test did not create; it will not deploy into it or leave it. Run the test on an engine outside swarm mode (`docker swarm leave --force` if that swarm is yours to end)")
		}
		t.Log("a swarm an earlier, interrupted run created is still there: leaving it first")
		dockerOut(t, ctx, root, "swarm", "leave", "--force")
		// With its bridge, unless something else uses it (then rm refuses).
		dockerRun(ctx, root, nil, "network", "rm", "docker_gwbridge")
	default:
		t.Fatalf("the engine's swarm state is %q; the test needs an engine outside swarm mode", state)
	}
	_, _, gwErr := dockerRun(ctx, root, nil, "network", "inspect", "docker_gwbridge")
	hadGateway := gwErr == nil

	// The manager listens on the loopback address only: nothing else is to join.
	if _, stderr, err := dockerRun(ctx, root, nil, "swarm", "init", "--advertise-addr", "127.0.0.1", "--listen-addr", "127.0.0.1:2377"); err != nil {
		t.Fatalf("docker swarm init: %v\n%s", err, stderr)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, stderr, err := dockerRun(ctx, root, nil, "swarm", "leave", "--force"); err != nil {
			t.Errorf("docker swarm leave --force: %v\n%s\nLeave the swarm by hand.", err, stderr)
		}
		// Swarm creates this bridge for tasks' outside traffic and keeps it after leaving.
		if !hadGateway {
			dockerRun(ctx, root, nil, "network", "rm", "docker_gwbridge")
		}
		if state, _, _ := dockerRun(ctx, root, nil, "info", "--format", "{{.Swarm.LocalNodeState}}"); strings.TrimSpace(state) != "inactive" {
			t.Errorf("after leaving, the engine's swarm state is %q, want inactive", strings.TrimSpace(state))
		}
	})
	node := dockerOut(t, ctx, root, "info", "--format", "{{.Swarm.NodeID}}")
	dockerOut(t, ctx, root, "node", "update", "--label-add", ownerLabel+"=owned", node)
}

// deployStack deploys with the project's script, and registers the stack's removal, which runs
// before the swarm is left.
func deployStack(t *testing.T, ctx context.Context, root string, env []string) {
	t.Helper()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if t.Failed() {
			dumpStack(t, ctx, root)
		}
		removeStack(t, ctx, root)
	})
	args := []string{"deploy/swarm/deploy.sh"}
	if f := os.Getenv("SWARM_ENV_FILE"); f != "" {
		args = append(args, "--env-file", f)
	}
	args = append(args, "--detach", swarmStack)
	cmd := exec.CommandContext(ctx, "bash", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("deploy/swarm/deploy.sh: %v\n%s", err, out)
	}
	t.Logf("deploy/swarm/deploy.sh:\n%s", out)
	if bytes.Contains(out, []byte("Ignoring")) {
		t.Errorf("docker stack deploy ignored part of the stack file (see its output above)")
	}
}

// removeStack removes the services, then waits for their containers and networks to go, so that
// the volumes can be removed too.
func removeStack(t *testing.T, ctx context.Context, root string) {
	if _, stderr, err := dockerRun(ctx, root, nil, "stack", "rm", swarmStack); err != nil {
		t.Errorf("docker stack rm: %v\n%s", err, stderr)
		return
	}
	filter := "label=com.docker.stack.namespace=" + swarmStack
	for {
		containers, _, _ := dockerRun(ctx, root, nil, "ps", "--all", "--quiet", "--filter", filter)
		networks, _, _ := dockerRun(ctx, root, nil, "network", "ls", "--quiet", "--filter", filter)
		if strings.TrimSpace(containers+networks) == "" {
			break
		}
		select {
		case <-ctx.Done():
			t.Errorf("the stack's containers and networks are still there after docker stack rm")
			return
		case <-time.After(time.Second):
		}
	}
	for _, v := range []string{"db-data", "redis-data"} {
		if _, stderr, err := dockerRun(ctx, root, nil, "volume", "rm", swarmStack+"_"+v); err != nil {
			t.Errorf("docker volume rm %s_%s: %v\n%s", swarmStack, v, err, stderr)
		}
	}
}

// dumpStack logs the services' logs, then the task list with each task's error: last, because a
// CI log that is cut keeps its end. Postgres and Redis come after the services that need them.
func dumpStack(t *testing.T, ctx context.Context, root string) {
	var services []string
	for _, s := range slices.Sorted(maps.Keys(swarmServices)) {
		if s != "db" && s != "redis" {
			services = append(services, s)
		}
	}
	for _, s := range append(services, "redis", "db") {
		// The services log to standard output, Postgres and Redis partly to standard error.
		out, errOut, _ := dockerRun(ctx, root, nil, "service", "logs", "--tail", "40", "--no-task-ids", swarmStack+"_"+s)
		t.Logf("docker service logs %s:\n%s%s", s, out, errOut)
	}
	out, _, _ := dockerRun(ctx, root, nil, "stack", "ps", "--no-trunc", "--format", "{{.Name}}\t{{.CurrentState}}\t{{.Error}}", swarmStack)
	t.Logf("docker stack ps (task, state, error):\n%s", out)
}

// waitConverged waits until every service runs the replicas it asks for, each healthy.
func waitConverged(t *testing.T, ctx context.Context, root string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	filter := "label=com.docker.stack.namespace=" + swarmStack
	var last string
	var short []string
	for {
		out, _, err := dockerRun(ctx, root, nil, "ps", "--filter", filter, "--format", `{{.Label "com.docker.swarm.service.name"}} {{.Status}}`)
		if err == nil {
			healthy := map[string]int{}
			for line := range strings.Lines(out) {
				name, status, _ := strings.Cut(strings.TrimSpace(line), " ")
				if strings.Contains(status, "(healthy)") {
					healthy[strings.TrimPrefix(name, swarmStack+"_")]++
				}
			}
			short = short[:0]
			for _, s := range slices.Sorted(maps.Keys(swarmServices)) {
				if healthy[s] != swarmServices[s] {
					short = append(short, fmt.Sprintf("%s %d/%d", s, healthy[s], swarmServices[s]))
				}
			}
			if len(short) == 0 {
				return
			}
			last = out
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the stack did not converge within 3 minutes; healthy tasks short of the replicas asked for: %s; containers:\n%s", strings.Join(short, ", "), last)
		case <-time.After(2 * time.Second):
		}
	}
}

// container is the part of docker inspect the hardening check reads.
type container struct {
	Name   string
	Config struct {
		User   string
		Labels map[string]string
	}
	State struct {
		Health *struct{ Status string }
	}
	HostConfig struct {
		Privileged     bool
		ReadonlyRootfs bool
		CapDrop        []string
		SecurityOpt    []string
		Memory         int64
		NanoCpus       int64
		PidsLimit      *int64
	}
	NetworkSettings struct {
		Ports map[string][]struct{ HostIp, HostPort string }
	}
}

func stackContainers(t *testing.T, ctx context.Context, root, service string) []container {
	t.Helper()
	filter := "label=com.docker.stack.namespace=" + swarmStack
	if service != "" {
		filter = "label=com.docker.swarm.service.name=" + swarmStack + "_" + service
	}
	ids := strings.Fields(dockerOut(t, ctx, root, "ps", "--quiet", "--filter", filter))
	if len(ids) == 0 {
		t.Fatalf("no running container for %s", filter)
	}
	var cs []container
	if err := json.Unmarshal([]byte(dockerOut(t, ctx, root, append([]string{"inspect"}, ids...)...)), &cs); err != nil {
		t.Fatal(err)
	}
	return cs
}

// checkHardening: what the stack file asks for, on the running containers. security_opt is the
// one thing Swarm cannot set; the log says so.
func checkHardening(t *testing.T, ctx context.Context, root string) {
	t.Helper()
	for _, c := range stackContainers(t, ctx, root, "") {
		hc := c.HostConfig
		uid, _, _ := strings.Cut(c.Config.User, ":")
		if n, err := strconv.Atoi(uid); err != nil || n == 0 {
			t.Errorf("%s: user %q, want a numeric non-root user", c.Name, c.Config.User)
		}
		if hc.Privileged || !hc.ReadonlyRootfs || !slices.Equal(hc.CapDrop, []string{"ALL"}) {
			t.Errorf("%s: privileged %v, read-only root %v, dropped capabilities %v", c.Name, hc.Privileged, hc.ReadonlyRootfs, hc.CapDrop)
		}
		if hc.Memory == 0 || hc.NanoCpus == 0 || hc.PidsLimit == nil || *hc.PidsLimit <= 0 {
			t.Errorf("%s: limits: memory %d, CPU %d, pids %v", c.Name, hc.Memory, hc.NanoCpus, hc.PidsLimit)
		}
		if c.State.Health == nil || c.State.Health.Status != "healthy" {
			t.Errorf("%s: not healthy (%+v)", c.Name, c.State.Health)
		}
		if len(hc.SecurityOpt) > 0 {
			t.Logf("%s: security options %v", c.Name, hc.SecurityOpt)
		}
	}
	t.Log("every container: numeric non-root user, read-only root, capabilities dropped (ALL), memory/CPU/pids limits, healthy; no-new-privileges is not set (Swarm cannot; see deploy/swarm/README.md)")
}

// publishedURLs returns the base URLs under which the host reaches a service's port: the routing
// mesh's one port, or each task's own.
func publishedURLs(t *testing.T, ctx context.Context, root, service string, target int, mesh bool) []string {
	t.Helper()
	if mesh {
		var ports []struct{ TargetPort, PublishedPort int }
		out := dockerOut(t, ctx, root, "service", "inspect", "--format", "{{json .Endpoint.Ports}}", swarmStack+"_"+service)
		if err := json.Unmarshal([]byte(out), &ports); err != nil {
			t.Fatalf("%s: %v", out, err)
		}
		for _, p := range ports {
			if p.TargetPort == target {
				return []string{fmt.Sprintf("http://127.0.0.1:%d", p.PublishedPort)}
			}
		}
		t.Fatalf("service %s publishes no port for %d: %s", service, target, out)
	}
	var urls []string
	for _, c := range stackContainers(t, ctx, root, service) {
		bindings := c.NetworkSettings.Ports[fmt.Sprintf("%d/tcp", target)]
		if len(bindings) == 0 {
			t.Fatalf("%s publishes no port for %d", c.Name, target)
		}
		urls = append(urls, "http://127.0.0.1:"+bindings[0].HostPort)
	}
	slices.Sort(urls)
	return urls
}

// ballots says what every voter does: a first vote and, for about a third, a change of mind. The
// seed is fixed, so a failure replays with the same votes.
type ballots struct{ first, second []string }

func newBallots(voters int) ballots {
	rng := rand.New(rand.NewPCG(7, uint64(voters)))
	b := ballots{first: make([]string, voters), second: make([]string, voters)}
	for i := range voters {
		b.first[i] = "b"
		if rng.Float64() < 0.55 {
			b.first[i] = "a"
		}
		if rng.Float64() < 0.3 {
			b.second[i] = map[string]string{"a": "b", "b": "a"}[b.first[i]]
		}
	}
	return b
}

func (b ballots) tally() map[string]int64 {
	m := map[string]int64{"a": 0, "b": 0}
	for i, first := range b.first {
		m[cmpOr(b.second[i], first)]++
	}
	return m
}

func (b ballots) casts() int {
	n := len(b.first)
	for _, s := range b.second {
		if s != "" {
			n++
		}
	}
	return n
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// castBallots has every voter vote like a browser, 16 at a time: the ballot page (which sets the
// voter_id cookie), the vote, and the change of mind on the next vote task. Votes alternate
// between the form (303) and the JSON API (202).
func castBallots(t *testing.T, ctx context.Context, bases []string, b ballots) {
	t.Helper()
	next := make(chan int)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for i := range next {
				if err := castBallot(ctx, bases, i, b.first[i], b.second[i]); err != nil {
					t.Errorf("voter %d: %v", i, err)
				}
			}
		})
	}
	for i := range b.first {
		next <- i
	}
	close(next)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
}

func castBallot(ctx context.Context, bases []string, i int, first, second string) error {
	jar, err := cookiejar.New(nil)
	if err != nil {
		return err
	}
	c := &http.Client{
		Jar:           jar,
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	base := bases[i%len(bases)]
	if err := send(ctx, c, http.MethodGet, base+"/", "", "", http.StatusOK); err != nil {
		return fmt.Errorf("ballot page: %w", err)
	}
	for j, option := range []string{first, second} {
		if option == "" {
			break
		}
		// Cookies belong to a host, not a port: the voter_id the first task set goes to the
		// next one too, which must accept it.
		base := bases[(i+j)%len(bases)]
		var err error
		if (i+j)%2 == 0 {
			err = send(ctx, c, http.MethodPost, base+"/", "application/x-www-form-urlencoded", url.Values{"vote": {option}}.Encode(), http.StatusSeeOther)
		} else {
			err = send(ctx, c, http.MethodPost, base+"/api/v1/votes", "application/json", fmt.Sprintf(`{"vote":%q}`, option), http.StatusAccepted)
		}
		if err != nil {
			return fmt.Errorf("vote %d (%s) at %s: %w", j+1, option, base, err)
		}
	}
	return nil
}

func send(ctx context.Context, c *http.Client, method, url, contentType, body string, want int) error {
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		return err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("%s %s: %s, want %d: %s", method, url, resp.Status, want, b)
	}
	io.Copy(io.Discard, resp.Body)
	return nil
}

// tally is the result service's document, on /api/results and in each event.
type tally struct {
	Options []struct {
		Key   string
		Votes int64
	}
	Total int64
}

func (t tally) votes() map[string]int64 {
	m := map[string]int64{}
	for _, o := range t.Options {
		m[o.Key] = o.Votes
	}
	return m
}

// waitTally polls a result replica until it shows the expected tally: the workers apply votes
// asynchronously.
func waitTally(t *testing.T, ctx context.Context, url string, want map[string]int64) map[string]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var last map[string]int64
	for {
		var tl tally
		if err := fetchJSON(ctx, url, &tl); err == nil {
			last = tl.votes()
			if sameTally(last, want) {
				return last
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: tally %v after a minute, want %v", url, last, want)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// firstEvent reads a result replica's event stream up to its first tally.
func firstEvent(t *testing.T, ctx context.Context, url string) tally {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if data, ok := strings.CutPrefix(sc.Text(), "data:"); ok {
			var tl tally
			if err := json.Unmarshal([]byte(strings.TrimSpace(data)), &tl); err != nil {
				t.Fatalf("%s: event %q: %v", url, data, err)
			}
			return tl
		}
	}
	t.Fatalf("%s: no event before the stream ended: %v", url, sc.Err())
	return tally{}
}

func getJSON(t *testing.T, ctx context.Context, url string, v any) {
	t.Helper()
	if err := fetchJSON(ctx, url, v); err != nil {
		t.Fatal(err)
	}
}

func fetchJSON(ctx context.Context, url string, v any) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

func sameTally(a, b map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// dockerRun runs the docker CLI in dir with extra environment variables.
func dockerRun(ctx context.Context, dir string, env []string, args ...string) (stdout, stderr string, err error) {
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	if err := cmd.Run(); err != nil {
		return o.String(), e.String(), fmt.Errorf("docker %s: %w", strings.Join(args, " "), err)
	}
	return o.String(), e.String(), nil
}

// dockerOut runs the docker CLI and returns its trimmed output; an error ends the test.
func dockerOut(t *testing.T, ctx context.Context, dir string, args ...string) string {
	t.Helper()
	out, stderr, err := dockerRun(ctx, dir, nil, args...)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	return strings.TrimSpace(out)
}
