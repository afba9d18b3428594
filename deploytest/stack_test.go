package deploytest

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// composeFile is the part of a compose file (docker-compose.yml or deploy/swarm/stack.yml) these
// tests compare. The authoritative schema check is `docker stack config`, in the swarm test.
type composeFile struct {
	Services map[string]composeService
	Networks map[string]struct {
		Driver   string
		Internal bool
	}
	Secrets map[string]struct{ File string }
	Configs map[string]struct{ File string }
}

type composeService struct {
	Image       string
	User        string
	ReadOnly    bool     `json:"read_only"`
	CapDrop     []string `json:"cap_drop"`
	Command     []string
	Environment map[string]string
	Networks    []string
	Secrets     []json.RawMessage // a name (compose) or {source, uid, gid, mode} (the stack)
	Configs     []struct {
		Source, Target, UID, GID string
		Mode                     int
	}
	Volumes []json.RawMessage
	Ports   []json.RawMessage
	// Compose's limits.
	MemLimit  string `json:"mem_limit"`
	CPUs      json.Number
	PidsLimit int `json:"pids_limit"`

	Healthcheck *struct {
		Test     []string
		Interval string
	}
	Deploy struct {
		Replicas       *int
		EndpointMode   string         `json:"endpoint_mode"`
		UpdateConfig   *updateConfig  `json:"update_config"`
		RollbackConfig *updateConfig  `json:"rollback_config"`
		RestartPolicy  map[string]any `json:"restart_policy"`
		Placement      struct{ Constraints []string }
		Resources      struct {
			Limits struct {
				CPUs   string
				Memory string
				Pids   int
			}
			Reservations struct{ CPUs, Memory string }
		}
	}
	raw map[string]any
}

type updateConfig struct {
	Parallelism   int
	Order         string
	FailureAction string `json:"failure_action"`
	Monitor       string
}

type stackSecret struct {
	Source, Target, UID, GID string
	Mode                     int
}

func readComposeFile(t *testing.T, path string) composeFile {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	j, err := yaml.YAMLToJSON(b)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var f composeFile
	if err := json.Unmarshal(j, &f); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var raw struct{ Services map[string]map[string]any }
	if err := json.Unmarshal(j, &raw); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	for name, s := range f.Services {
		s.raw = raw.Services[name]
		f.Services[name] = s
	}
	return f
}

// Keys of a service that `docker stack deploy` drops, and why they do not matter or what stands
// in for them. Swarm warns about some ("Ignoring unsupported options"); tmpfs it drops silently,
// and the limits keys make it fail.
var swarmIgnores = map[string]string{
	"security_opt":  "no-new-privileges: Swarm cannot set it; set it for the engine (dockerd --no-new-privileges)",
	"tmpfs":         "dropped without a word: use a volume of type tmpfs",
	"mem_limit":     "use deploy.resources.limits.memory",
	"memswap_limit": "Swarm sets no swap limit",
	"cpus":          "use deploy.resources.limits.cpus",
	"pids_limit":    "use deploy.resources.limits.pids",
	"shm_size":      "Swarm cannot set it (the runtime's 64 MiB applies)",
	"restart":       "use deploy.restart_policy",
	"depends_on":    "Swarm starts everything at once; the services wait for their dependencies themselves",
	"privileged":    "never wanted",
	"build":         "images are built beforehand",
}

// TestStackFollowsSwarmRules: what the stack promises, in the keys Swarm honours.
func TestStackFollowsSwarmRules(t *testing.T) {
	root := repoRoot(t)
	stack := readComposeFile(t, filepath.Join(root, "deploy/swarm/stack.yml"))

	replicas := map[string]int{"vote": 2, "worker": 2, "result": 2, "analyzer": 1, "db": 1, "redis": 1}
	if got := slices.Sorted(maps.Keys(stack.Services)); !slices.Equal(got, sortedKeys(replicas)) {
		t.Fatalf("services %v, want %v", got, sortedKeys(replicas))
	}
	numeric := regexp.MustCompile(`^[1-9][0-9]*:[1-9][0-9]*$`)
	for _, name := range sortedKeys(replicas) {
		s := stack.Services[name]
		t.Run(name, func(t *testing.T) {
			if got := ptrOr(s.Deploy.Replicas, 1); got != replicas[name] {
				t.Errorf("replicas %d, want %d", got, replicas[name])
			}
			for _, key := range slices.Sorted(maps.Keys(s.raw)) {
				if why, ok := swarmIgnores[key]; ok {
					t.Errorf("%s: Swarm ignores it (%s)", key, why)
				}
			}
			if !numeric.MatchString(s.User) {
				t.Errorf("user %q, want a numeric uid:gid other than root", s.User)
			}
			if !s.ReadOnly {
				t.Error("read_only is not true")
			}
			if !slices.Equal(s.CapDrop, []string{"ALL"}) {
				t.Errorf("cap_drop %v, want [ALL]", s.CapDrop)
			}
			lim, res := s.Deploy.Resources.Limits, s.Deploy.Resources.Reservations
			if lim.CPUs == "" || lim.Memory == "" || lim.Pids == 0 || res.CPUs == "" || res.Memory == "" {
				t.Errorf("deploy.resources: limits %+v, reservations %+v; want cpus, memory and pids limits, cpus and memory reservations", lim, res)
			}
			// Two Postgres or Redis servers must never share a data directory, not even during
			// an update; the Go services are safe to overlap.
			order := "start-first"
			if name == "db" || name == "redis" {
				order = "stop-first"
				if !slices.Contains(s.Deploy.Placement.Constraints, "node.labels.voting-app.store == true") {
					t.Errorf("placement constraints %v: the store must stay on the node that has its volume", s.Deploy.Placement.Constraints)
				}
				if s.Healthcheck == nil || len(s.Healthcheck.Test) == 0 {
					t.Error("no healthcheck command (the Go services' images carry theirs)")
				}
			}
			for kind, u := range map[string]*updateConfig{"update_config": s.Deploy.UpdateConfig, "rollback_config": s.Deploy.RollbackConfig} {
				switch {
				case u == nil:
					t.Errorf("no %s", kind)
				case u.Order != order:
					t.Errorf("%s: order %q, want %s", kind, u.Order, order)
				case kind == "update_config" && u.FailureAction != "rollback":
					t.Errorf("update_config: failure_action %q, want rollback", u.FailureAction)
				}
			}
			uid, gid, _ := strings.Cut(s.User, ":")
			for _, raw := range s.Secrets {
				var sec stackSecret
				if err := json.Unmarshal(raw, &sec); err != nil {
					t.Errorf("secret %s: want the long syntax with uid, gid and mode: %v", raw, err)
					continue
				}
				if sec.UID != uid || sec.GID != gid || sec.Mode != 0o400 {
					t.Errorf("secret %s: uid %q gid %q mode %#o, want %s, %s, 0400 (readable by the service's user only)", sec.Source, sec.UID, sec.GID, sec.Mode, uid, gid)
				}
				if _, ok := stack.Secrets[sec.Source]; !ok {
					t.Errorf("secret %s is not defined at the top level", sec.Source)
				}
			}
		})
	}
	for _, name := range []string{"queue", "store"} {
		if n := stack.Networks[name]; n.Driver != "overlay" || !n.Internal {
			t.Errorf("network %s: driver %q, internal %v; want an internal overlay network", name, n.Driver, n.Internal)
		}
	}
	for name, c := range stack.Configs {
		if _, err := os.Stat(filepath.Join(root, "deploy/swarm", c.File)); err != nil {
			t.Errorf("config %s: %v", name, err)
		}
	}
}

// TestStackMatchesCompose: the stack runs the same images, commands, users, networks, variables,
// secrets and limits as docker-compose.yml, so that the two do not drift apart.
func TestStackMatchesCompose(t *testing.T) {
	root := repoRoot(t)
	stack := readComposeFile(t, filepath.Join(root, "deploy/swarm/stack.yml"))
	compose := readComposeFile(t, filepath.Join(root, "docker-compose.yml"))

	// Variables the stack adds: a drain delay, because the routing mesh, unlike compose's
	// single container, keeps sending requests to a stopping task for a moment.
	stackOnly := []string{"DRAIN_DELAY"}
	// Compose's services read the files secrets-init puts in their volume: its command names them,
	// one SERVICE=SECRET,SECRET... argument per service.
	shared := map[string][]string{}
	for _, arg := range compose.Services["secrets-init"].Command {
		svc, list, ok := strings.Cut(arg, "=")
		if !ok {
			t.Fatalf("secrets-init argument %q: want SERVICE=SECRET[,SECRET...]", arg)
		}
		shared[svc] = strings.Split(list, ",")
	}
	for _, name := range slices.Sorted(maps.Keys(stack.Services)) {
		s := stack.Services[name]
		c, ok := compose.Services[name]
		if !ok {
			t.Errorf("%s is not a service of docker-compose.yml", name)
			continue
		}
		t.Run(name, func(t *testing.T) {
			if s.Image != composeDefaultImage(c.Image) {
				t.Errorf("image %q, compose %q", s.Image, c.Image)
			}
			if !slices.Equal(s.Command, c.Command) {
				t.Errorf("command %q, compose %q", s.Command, c.Command)
			}
			if c.User != "" && s.User != c.User {
				t.Errorf("user %q, compose %q", s.User, c.User)
			}
			// ops joins the services to compose's Prometheus (profile monitoring); the stack has none.
			composeNets := slices.DeleteFunc(slices.Clone(c.Networks), func(n string) bool { return n == "ops" })
			if !slices.Equal(slices.Sorted(slices.Values(s.Networks)), slices.Sorted(slices.Values(composeNets))) {
				t.Errorf("networks %v, compose %v", s.Networks, c.Networks)
			}
			var env []string
			for k := range s.Environment {
				if !slices.Contains(stackOnly, k) {
					env = append(env, k)
				}
			}
			if got, want := slices.Sorted(slices.Values(env)), slices.Sorted(maps.Keys(c.Environment)); !slices.Equal(got, want) {
				t.Errorf("environment %v, compose %v", got, want)
			}
			var secrets, composeSecrets []string
			for _, raw := range s.Secrets {
				var sec stackSecret
				json.Unmarshal(raw, &sec)
				secrets = append(secrets, sec.Source)
			}
			for _, raw := range c.Secrets {
				var name string
				json.Unmarshal(raw, &name)
				composeSecrets = append(composeSecrets, name)
			}
			composeSecrets = append(composeSecrets, shared[name]...)
			if !slices.Equal(slices.Sorted(slices.Values(secrets)), slices.Sorted(slices.Values(composeSecrets))) {
				t.Errorf("secrets %v, compose %v", secrets, composeSecrets)
			}
			if c.Healthcheck != nil && len(c.Healthcheck.Test) > 0 && (s.Healthcheck == nil || !slices.Equal(s.Healthcheck.Test, c.Healthcheck.Test)) {
				t.Errorf("healthcheck differs from compose's %q", c.Healthcheck.Test)
			}
			lim := s.Deploy.Resources.Limits
			if want := memBytes(t, c.MemLimit); memBytes(t, lim.Memory) != want {
				t.Errorf("memory limit %s, compose %s", lim.Memory, c.MemLimit)
			}
			if cpus, _ := strconv.ParseFloat(lim.CPUs, 64); c.CPUs != "" && cpus != mustFloat(t, c.CPUs) {
				t.Errorf("cpus %s, compose %s", lim.CPUs, c.CPUs)
			}
			if c.PidsLimit != 0 && lim.Pids != c.PidsLimit {
				t.Errorf("pids %d, compose %d", lim.Pids, c.PidsLimit)
			}
		})
	}
}

// memBytes reads a compose memory size (128m, 256M, 512m).
func memBytes(t *testing.T, s string) int64 {
	t.Helper()
	units := map[string]int64{"b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
	s = strings.ToLower(s)
	mult := int64(1)
	if len(s) > 0 {
		if u, ok := units[s[len(s)-1:]]; ok {
			s, mult = s[:len(s)-1], u
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Errorf("memory size %q: %v", s, err)
	}
	return n * mult
}

func mustFloat(t *testing.T, n json.Number) float64 {
	t.Helper()
	f, err := n.Float64()
	if err != nil {
		t.Errorf("%q: %v", n, err)
	}
	return f
}

// composeDefaultImage is a compose image without the per-service override a release uses
// (${VOTE_IMAGE:-<default>}, out/release/images.env): docker stack deploy does not interpolate a
// default that holds variables itself, so the stack names only the default.
func composeDefaultImage(image string) string {
	i := strings.Index(image, "_IMAGE:-")
	if !strings.HasPrefix(image, "${") || i < 0 || !strings.HasSuffix(image, "}") {
		return image
	}
	if def := image[i+len("_IMAGE:-") : len(image)-1]; strings.Contains(def, "${") {
		return def
	}
	return image
}

// TestComposeStoresDurable: docker-compose.yml (and with it the stack, which runs the same
// commands: TestStackMatchesCompose) starts Redis and Postgres with the settings of the
// Kubernetes check "durability".
func TestComposeStoresDurable(t *testing.T) {
	compose := readComposeFile(t, filepath.Join(repoRoot(t), "docker-compose.yml"))
	opts := redisOptions(compose.Services["redis"].Command)
	for _, k := range sortedKeys(redisDurable) {
		if got := opts[k]; got != redisDurable[k] {
			t.Errorf("redis: --%s %q, want %s", k, got, redisDurable[k])
		}
	}
	settings := postgresSettings(compose.Services["db"].Command)
	for _, k := range sortedKeys(postgresDurable) {
		if got, set := settings[k]; set && got != postgresDurable[k] {
			t.Errorf("db: -c %s=%s, want %s", k, got, postgresDurable[k])
		}
	}
}
