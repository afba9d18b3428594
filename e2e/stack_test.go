//go:build e2e

package e2e

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// stack is a compose project started from the repository's docker-compose.yml.
type stack struct {
	root     string // repository root: the compose project directory
	project  string
	envFile  string   // --env-file, or ""
	profiles []string // compose profiles to enable (--profile), e.g. monitoring
}

// Services of the compose file, by kind: the Go services run as 65532 from the distroless-like
// runtime, the stores as their image's own user.
var (
	goServices    = []string{"vote", "worker", "result", "analyzer"}
	storeServices = map[string]string{"db": "999:999", "redis": "999:999"}
	// One-shot services: they run before the others, exit 0 and stay as stopped containers.
	oneShots = map[string]string{"secrets-init": "65532:65532"}
	// Services of compose profiles the tests start, as the user compose runs them.
	profileServices = map[string]string{"prometheus": "65534:65534"}
	// Ports compose publishes; nothing else (the ops port 9090, Postgres, Redis) may be.
	// Prometheus's 9090 is its own web UI, published only with the monitoring profile.
	publishedPorts = map[string]string{"vote": "8080/tcp", "result": "8081/tcp", "analyzer": "8082/tcp", "prometheus": "9090/tcp"}
)

// workers is how many worker replicas the compose test runs: more than one, so the tally is checked with
// replicas sharing the stream's consumer group.
const workers = 2

// startStack brings the stack up from scratch, under its own project name and with that many
// worker replicas, and waits until every container is healthy. The
// stack is removed with its volumes when the test ends (E2E_KEEP=1 keeps it), after printing the
// logs of what failed.
func startStack(t *testing.T, project string, workers int, profiles ...string) *stack {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	s := &stack{root: root, project: project, profiles: profiles}
	if f := os.Getenv("E2E_ENV_FILE"); f != "" {
		if !filepath.IsAbs(f) {
			f = filepath.Join(root, f)
		}
		s.envFile = f
	}
	ctx := t.Context()
	if out, err := run(ctx, root, nil, "docker", "version", "--format", "{{.Server.Version}}"); err != nil {
		t.Fatalf("no Docker engine: %v\n%s", err, out)
	}
	// A previous run that was killed may have left the project behind, votes included.
	if out, err := s.compose(ctx, "down", "--volumes", "--remove-orphans"); err != nil {
		t.Fatalf("removing a previous stack: %v\n%s", err, out)
	}

	t.Cleanup(func() {
		// t.Context is already cancelled here.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		// A test that froze a container (docker pause) and failed before thawing it.
		if out, err := run(ctx, root, nil, "docker", "ps", "--quiet", "--filter", "status=paused",
			"--filter", "label=com.docker.compose.project="+project); err == nil && len(strings.Fields(string(out))) > 0 {
			run(ctx, root, nil, "docker", append([]string{"unpause"}, strings.Fields(string(out))...)...)
		}
		if t.Failed() {
			s.dumpLogs(t, ctx)
		}
		if os.Getenv("E2E_KEEP") == "1" {
			t.Logf("E2E_KEEP=1: stack left running; remove it with: docker compose -p %s down -v", s.project)
			return
		}
		if out, err := s.compose(ctx, "down", "--volumes", "--remove-orphans", "--timeout", "20"); err != nil {
			t.Errorf("docker compose down: %v\n%s", err, out)
		}
	})

	start := time.Now()
	out, err := s.compose(ctx, "up", "--detach", "--wait", "--wait-timeout", "180", "--no-build",
		"--scale", fmt.Sprintf("worker=%d", workers))
	if err != nil {
		t.Fatalf("docker compose up: %v\n%s", err, out)
	}
	t.Logf("stack %s up and healthy in %s", s.project, time.Since(start).Round(100*time.Millisecond))
	return s
}

// secret reads one of the stack's passwords from secrets-init's store volume, through its
// container (stopped after its one run; docker cp reads its volumes all the same). The images
// have no shell, so nothing can be run in them to print it.
func (s *stack) secret(t *testing.T, name string) string {
	t.Helper()
	ctx := t.Context()
	out, err := s.compose(ctx, "ps", "--all", "--quiet", "secrets-init")
	if err != nil || len(strings.Fields(string(out))) == 0 {
		t.Fatalf("the stack's secrets-init container: %v\n%s", err, out)
	}
	v, err := readSecret(ctx, s.root, strings.Fields(string(out))[0], "/secrets/store/"+name)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// readSecret copies one file out of a container (docker cp writes a tar stream).
func readSecret(ctx context.Context, dir, container, path string) (string, error) {
	out, err := run(ctx, dir, nil, "docker", "cp", container+":"+path, "-")
	if err != nil {
		return "", fmt.Errorf("docker cp %s: %v\n%s", path, err, out)
	}
	tr := tar.NewReader(bytes.NewReader(out))
	if _, err := tr.Next(); err != nil {
		return "", fmt.Errorf("docker cp %s: %w", path, err)
	}
	b, err := io.ReadAll(tr)
	if err != nil {
		return "", fmt.Errorf("docker cp %s: %w", path, err)
	}
	return strings.TrimSpace(string(b)), nil
}

// compose runs docker compose on the project. Host ports are left to the engine (0), so the test
// runs next to a stack on the usual ports; URL finds them.
func (s *stack) compose(ctx context.Context, args ...string) ([]byte, error) {
	base := []string{"compose", "--project-name", s.project, "--project-directory", s.root,
		"--file", filepath.Join(s.root, "docker-compose.yml")}
	if s.envFile != "" {
		base = append(base, "--env-file", s.envFile)
	}
	for _, p := range s.profiles {
		base = append(base, "--profile", p)
	}
	env := []string{"PUBLISH_ADDR=127.0.0.1", "VOTE_PORT=0", "RESULT_PORT=0", "ANALYZER_PORT=0", "PROMETHEUS_PORT=0"}
	return run(ctx, s.root, env, "docker", append(base, args...)...)
}

// URL returns the base URL under which the host reaches a service's published port.
func (s *stack) URL(t *testing.T, service, port string) string {
	t.Helper()
	out, err := s.compose(t.Context(), "port", service, port)
	if err != nil {
		t.Fatalf("docker compose port %s %s: %v\n%s", service, port, err, out)
	}
	return "http://" + strings.TrimSpace(string(out))
}

// container is the part of `docker inspect` the test looks at.
type container struct {
	ID     string
	Name   string
	Image  string // image ID
	Config struct {
		User   string
		Labels map[string]string
	}
	State struct {
		Status   string
		ExitCode int
		Pid      int
		Health   *struct {
			Status string
		}
	}
	HostConfig struct {
		Privileged     bool
		ReadonlyRootfs bool
		CapAdd         []string
		CapDrop        []string
		SecurityOpt    []string
		Memory         int64
		NanoCpus       int64
		PidsLimit      *int64
	}
	NetworkSettings struct {
		Ports    map[string][]struct{ HostIp, HostPort string }
		Networks map[string]struct{ IPAddress string }
	}
}

func (c container) Service() string { return c.Config.Labels["com.docker.compose.service"] }

func (c container) health() string {
	if c.State.Health == nil {
		return "no healthcheck"
	}
	return c.State.Health.Status
}

// done reports a one-shot service's container that did its work: exited with status 0.
func (c container) done() bool {
	_, ok := oneShots[c.Service()]
	return ok && c.State.Status == "exited" && c.State.ExitCode == 0
}

// IP returns the container's address on one of the project's networks ("" when not attached).
func (c container) IP(s *stack, network string) string {
	return c.NetworkSettings.Networks[s.project+"_"+network].IPAddress
}

// containers inspects every container of the project, stopped ones included.
func (s *stack) containers(t *testing.T, ctx context.Context) []container {
	t.Helper()
	out, err := s.compose(ctx, "ps", "--all", "--quiet")
	if err != nil {
		t.Fatalf("docker compose ps: %v\n%s", err, out)
	}
	ids := strings.Fields(string(out))
	if len(ids) == 0 {
		t.Fatalf("project %s has no containers", s.project)
	}
	out, err = run(ctx, s.root, nil, "docker", append([]string{"inspect"}, ids...)...)
	if err != nil {
		t.Fatalf("docker inspect: %v\n%s", err, out)
	}
	var cs []container
	if err := json.Unmarshal(out, &cs); err != nil {
		t.Fatalf("docker inspect: %v", err)
	}
	slices.SortFunc(cs, func(a, b container) int { return strings.Compare(a.Name, b.Name) })
	return cs
}

// service returns the containers of one service.
func (s *stack) service(t *testing.T, name string) []container {
	t.Helper()
	var cs []container
	for _, c := range s.containers(t, t.Context()) {
		if c.Service() == name {
			cs = append(cs, c)
		}
	}
	if len(cs) == 0 {
		t.Fatalf("service %s has no container", name)
	}
	return cs
}

// dumpLogs prints the state of every container and the logs of those that are not running and
// healthy; when all are, it prints every service's recent logs, since a healthy service can still
// be the one that misbehaved.
func (s *stack) dumpLogs(t *testing.T, ctx context.Context) {
	if out, err := s.compose(ctx, "ps", "--all"); err == nil {
		t.Logf("docker compose ps --all:\n%s", out)
	}
	var bad []container
	for _, c := range s.containers(t, ctx) {
		if c.done() {
			continue
		}
		if c.State.Status != "running" || (c.State.Health != nil && c.State.Health.Status != "healthy") {
			bad = append(bad, c)
		}
	}
	if len(bad) == 0 {
		out, _ := s.compose(ctx, "logs", "--no-color", "--tail", "40")
		t.Logf("every container is running and healthy; their recent logs:\n%s", out)
		return
	}
	for _, c := range bad {
		out, _ := run(ctx, s.root, nil, "docker", "logs", "--tail", "200", c.ID)
		t.Logf("%s is %s (%s); docker logs --tail 200:\n%s", c.Name, c.State.Status, c.health(), out)
	}
}

// run runs a command in dir with extra environment variables and returns its standard output;
// the error carries standard error.
func run(ctx context.Context, dir string, env []string, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return append(out, stderr.Bytes()...), fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	return out, nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
