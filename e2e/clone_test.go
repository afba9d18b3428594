//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestBareClone is issue 12's promise: in a fresh clone of the committed tree, plain `docker
// compose up` — no make, no script, no --env-file — builds the images, makes the secrets, starts
// the stack and counts a vote. Then: a second start keeps the passwords (and the data they
// guard); two secrets-init runs racing on empty volumes agree; `down -v` leaves nothing behind.
//
// On an engine without a registry the clone gets the one file a user would have there: the
// ./.env that deploy/offline/bases.sh (make bases) writes. Besides that the test sets only what
// keeps it apart from other stacks: a project name, any free host ports, and an image prefix of
// its own (so its build never retags the images another stack runs; it removes them afterwards).
//
//	make e2e-clone
//	E2E_CLONE_KEEP=1   keep the clone's directory and stack for a look around
func TestBareClone(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	requireCompose(t, ctx, root)

	start := time.Now()
	parent := t.TempDir()
	dir := filepath.Join(parent, "voting-app")
	head := strings.TrimSpace(string(must(t)(run(ctx, root, nil, "git", "rev-parse", "HEAD"))))
	must(t)(run(ctx, root, nil, "git", "clone", "--quiet", "--no-checkout", root, dir))
	must(t)(run(ctx, dir, nil, "git", "checkout", "--quiet", "--detach", head))

	offline := os.Getenv("E2E_ENV_FILE") != ""
	if out, err := run(ctx, root, nil, "docker", "image", "ls", "--quiet", "voting-offline/*"); err == nil && len(strings.TrimSpace(string(out))) > 0 {
		offline = true
	}
	if offline {
		env, err := os.ReadFile(filepath.Join(root, ".env"))
		if err != nil {
			t.Fatalf("the engine has no registry, and %s/.env is missing: run `make bases` (deploy/offline/bases.sh), which builds the stand-in base images and writes it: %v", root, err)
		}
		if !strings.HasPrefix(string(env), "# Written by deploy/offline/bases.sh") {
			t.Fatalf("%s/.env is not the one deploy/offline/bases.sh writes; the test copies only that one", root)
		}
		if err := os.WriteFile(filepath.Join(dir, ".env"), env, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	c := &clone{dir: dir, project: fmt.Sprintf("e2eclone%d", time.Now().UnixNano()%1_000_000)}
	c.env = []string{"COMPOSE_PROJECT_NAME=" + c.project, "IMAGE_PREFIX=" + c.project,
		"VOTE_PORT=0", "RESULT_PORT=0", "ANALYZER_PORT=0"}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		if t.Failed() {
			out, _ := c.compose(ctx, "ps", "--all")
			logs, _ := c.compose(ctx, "logs", "--no-color", "--tail", "60")
			t.Logf("docker compose ps --all:\n%s\nlogs:\n%s", out, logs)
		}
		if os.Getenv("E2E_CLONE_KEEP") == "1" {
			t.Logf("E2E_CLONE_KEEP=1: clone and stack kept; remove with: cd %s && COMPOSE_PROJECT_NAME=%s docker compose down -v", dir, c.project)
			return
		}
		c.compose(ctx, "down", "--volumes", "--remove-orphans", "--timeout", "10")
		for _, svc := range []string{"vote", "worker", "result", "analyzer", "secrets-init", "loadgen"} {
			run(ctx, dir, nil, "docker", "image", "rm", "--force", c.project+"/"+svc+":dev")
		}
	})

	// 1. Bare up, and a vote counted.
	out, err := c.compose(ctx, "up", "--wait", "--wait-timeout", "900")
	if err != nil {
		t.Fatalf("docker compose up --wait in a fresh clone: %v\n%s", err, out)
	}
	up := time.Since(start)
	c.vote(t, "a")
	c.waitTotal(t, 1)
	t.Logf("git clone to the first vote counted: %s (stack healthy after %s)", time.Since(start).Round(100*time.Millisecond), up.Round(100*time.Millisecond))
	if st := c.status(t); strings.TrimSpace(st) != "" {
		t.Errorf("the stack wrote into the clone (secrets belong in volumes):\n%s", st)
	}

	// 2. A second start (containers recreated, volumes kept): the same passwords, the vote still
	// counted, and the services still log in with them.
	before := c.store(t)
	if len(before) < 7 {
		t.Fatalf("the store holds %d secrets, want the 7 passwords and the key: %v", len(before), slices.Sorted(maps.Keys(before)))
	}
	if out, err := c.compose(ctx, "down"); err != nil {
		t.Fatalf("docker compose down: %v\n%s", err, out)
	}
	if out, err := c.compose(ctx, "up", "--wait", "--wait-timeout", "300"); err != nil {
		t.Fatalf("second docker compose up: %v\n%s", err, out)
	}
	if after := c.store(t); !maps.Equal(before, after) {
		t.Error("the second start changed the stored secrets")
	}
	c.vote(t, "b")
	c.waitTotal(t, 2)
	c.down(t)

	// 3. Two secrets-init runs at once on empty volumes, then the stack on what they made.
	var wg sync.WaitGroup
	errs := make([]error, 2)
	outs := make([][]byte, 2)
	for i := range 2 {
		wg.Go(func() { outs[i], errs[i] = c.compose(ctx, "run", "--rm", "--no-deps", "secrets-init") })
	}
	wg.Wait()
	for i := range 2 {
		if errs[i] != nil {
			t.Fatalf("racing secrets-init run %d: %v\n%s", i, errs[i], outs[i])
		}
	}
	if out, err := c.compose(ctx, "up", "--wait", "--wait-timeout", "300"); err != nil {
		t.Fatalf("docker compose up after the race: %v\n%s", err, out)
	}
	// The run up started found every secret made: it created nothing.
	logs, _ := c.compose(ctx, "logs", "--no-color", "--no-log-prefix", "secrets-init")
	if n := countLogs(logs, "created"); n != 0 {
		t.Errorf("secrets-init created %d secrets after the race, want 0:\n%s", n, logs)
	}
	raced := c.store(t)
	for share, files := range map[string][]string{"vote": {"redis_vote_password"}, "db": {"postgres_password", "db_worker_password"}} {
		for _, f := range files {
			if got := c.file(t, "/secrets/"+share+"/"+f); got != raced[f] {
				t.Errorf("%s/%s differs from the stored value", share, f)
			}
		}
	}
	c.vote(t, "a")
	c.waitTotal(t, 1)
	c.down(t)
	if os.Getenv("E2E_CLONE_KEEP") == "1" {
		return
	}

	// 4. Nothing left: no container, volume or network of the project, no file outside the clone.
	for _, kind := range []string{"container", "volume", "network"} {
		args := []string{kind, "ls", "--quiet", "--filter", "label=com.docker.compose.project=" + c.project}
		if kind == "container" {
			args = []string{"ps", "--all", "--quiet", "--filter", "label=com.docker.compose.project=" + c.project}
		}
		if out, err := run(ctx, dir, nil, "docker", args...); err != nil || strings.TrimSpace(string(out)) != "" {
			t.Errorf("%ss of project %s left after down -v: %q %v", kind, c.project, out, err)
		}
	}
	entries, _ := os.ReadDir(parent)
	if len(entries) != 1 {
		t.Errorf("files next to the clone: %v", entries)
	}
	if st := c.status(t); strings.TrimSpace(st) != "" {
		t.Errorf("files in the clone that git does not know:\n%s", st)
	}
}

// requireCompose fails, saying how to get them, without a Docker engine or the compose plugin.
func requireCompose(t *testing.T, ctx context.Context, root string) {
	t.Helper()
	if _, err := exec.LookPath("docker"); err != nil {
		t.Fatal("this test needs the docker CLI and a Docker engine: install docker (Debian: apt-get install docker.io) and start the engine")
	}
	if out, err := run(ctx, root, nil, "docker", "version", "--format", "{{.Server.Version}}"); err != nil {
		t.Fatalf("this test needs a running Docker engine it may use (start dockerd; check DOCKER_HOST and access to /var/run/docker.sock): %v\n%s", err, out)
	}
	if out, err := run(ctx, root, nil, "docker", "compose", "version"); err != nil {
		t.Fatalf("this test needs the docker compose v2 plugin: on an engine without a registry `make bases` builds it (and buildx) from the Go module proxy; else install docker-compose-plugin: %v\n%s", err, out)
	}
}

func must(t *testing.T) func([]byte, error) []byte {
	return func(out []byte, err error) []byte {
		t.Helper()
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		return out
	}
}

// clone is a compose project run from a clone's directory as a user would run it there.
type clone struct {
	dir, project string
	env          []string
}

func (c *clone) compose(ctx context.Context, args ...string) ([]byte, error) {
	return run(ctx, c.dir, c.env, "docker", append([]string{"compose"}, args...)...)
}

func (c *clone) down(t *testing.T) {
	t.Helper()
	if out, err := c.compose(t.Context(), "down", "--volumes", "--remove-orphans", "--timeout", "10"); err != nil {
		t.Fatalf("docker compose down -v: %v\n%s", err, out)
	}
}

func (c *clone) url(t *testing.T, service, port string) string {
	t.Helper()
	out, err := c.compose(t.Context(), "port", service, port)
	if err != nil {
		t.Fatalf("docker compose port %s %s: %v\n%s", service, port, err, out)
	}
	return "http://" + strings.TrimSpace(string(out))
}

// vote casts one vote as a new voter, through the form, as a browser would.
func (c *clone) vote(t *testing.T, option string) {
	t.Helper()
	if err := castVoter(t.Context(), c.url(t, "vote", "8080"), 0, option, ""); err != nil {
		t.Fatal(err)
	}
}

// waitTotal polls the result service's /api/results until it counts total votes.
func (c *clone) waitTotal(t *testing.T, total int64) {
	t.Helper()
	base := c.url(t, "result", "8081")
	deadline := time.Now().Add(60 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		resp, err := http.Get(base + "/api/results")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var tl tally
			if resp.StatusCode == http.StatusOK && json.Unmarshal(b, &tl) == nil && tl.Total == total {
				return
			}
			last = resp.Status + " " + string(b)
		} else {
			last = err.Error()
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("result never counted %d votes; last answer: %s", total, last)
}

// secretsInit is the project's secrets-init container (exited after its run).
func (c *clone) secretsInit(t *testing.T) string {
	t.Helper()
	out, err := c.compose(t.Context(), "ps", "--all", "--quiet", "secrets-init")
	if err != nil || len(strings.Fields(string(out))) == 0 {
		t.Fatalf("secrets-init's container: %v\n%s", err, out)
	}
	return strings.Fields(string(out))[0]
}

func (c *clone) file(t *testing.T, path string) string {
	t.Helper()
	v, err := readSecret(t.Context(), c.dir, c.secretsInit(t), path)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// store reads every secret of the store volume.
func (c *clone) store(t *testing.T) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, name := range []string{"postgres_password", "db_worker_password", "db_result_password", "db_analyzer_password",
		"redis_admin_password", "redis_vote_password", "redis_worker_password", "llm_api_key"} {
		m[name] = c.file(t, "/secrets/store/"+name)
	}
	return m
}

// status lists what git sees in the clone besides the committed tree and the copied .env.
func (c *clone) status(t *testing.T) string {
	t.Helper()
	out := must(t)(run(t.Context(), c.dir, nil, "git", "status", "--porcelain", "--ignored", "--untracked-files=all"))
	var lines []string
	for line := range strings.Lines(string(out)) {
		if strings.TrimSpace(line) != "!! .env" {
			lines = append(lines, line)
		}
	}
	return strings.Join(lines, "")
}

// countLogs counts JSON log lines with the message msg.
func countLogs(logs []byte, msg string) int {
	n := 0
	sc := bufio.NewScanner(strings.NewReader(string(logs)))
	for sc.Scan() {
		var line struct{ Msg string }
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == msg {
			n++
		}
	}
	return n
}
