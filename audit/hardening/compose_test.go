package hardening

import (
	"encoding/json"
	"os"
	"testing"
)

// testdata/compose.json is `docker compose --profile '*' config --format json` of the project's
// docker-compose.yml (paths shortened to /repo): the good input.
func loadProject(t *testing.T) (*Project, map[string]json.RawMessage) {
	t.Helper()
	b, err := os.ReadFile("testdata/compose.json")
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParseProject(b)
	if err != nil {
		t.Fatal(err)
	}
	var raw struct {
		Services map[string]json.RawMessage `json:"services"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	return p, raw.Services
}

// withFragment returns the service with a compose fragment merged over it: each top-level key of
// the fragment replaces the service's, and null removes it.
func withFragment(t *testing.T, raw json.RawMessage, name, fragment string) *Service {
	t.Helper()
	var base, frag map[string]any
	if err := json.Unmarshal(raw, &base); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(fragment), &frag); err != nil {
		t.Fatalf("fragment %s: %v", fragment, err)
	}
	for k, v := range frag {
		if v == nil {
			delete(base, k)
		} else {
			base[k] = v
		}
	}
	b, err := json.Marshal(map[string]any{"services": map[string]any{name: base}})
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParseProject(b)
	if err != nil {
		t.Fatal(err)
	}
	return p.Services[name]
}

var goImage = &ImageFacts{User: "65532:65532", Healthcheck: []string{"CMD", "/vote", "healthcheck"}}

type cmpCase struct {
	rule, name, service, fragment string
	image                         *ImageFacts
	want                          Status
}

func composeCases() []cmpCase {
	return []cmpCase{
		{"CMP001", "writable root", "vote", `{"read_only": false}`, goImage, Fail},
		{"CMP001", "read_only unset", "db", `{"read_only": null}`, nil, Fail},
		{"CMP002", "nothing dropped", "vote", `{"cap_drop": null}`, goImage, Fail},
		{"CMP002", "some dropped", "vote", `{"cap_drop": ["NET_RAW", "MKNOD"]}`, goImage, Fail},
		{"CMP002", "unjustified cap_add", "db", `{"cap_add": ["CHOWN"]}`, nil, Fail},
		{"CMP003", "no security_opt", "worker", `{"security_opt": null}`, goImage, Fail},
		{"CMP003", "no-new-privileges false", "worker", `{"security_opt": ["no-new-privileges:false"]}`, goImage, Fail},
		{"CMP004", "no memory limit", "result", `{"mem_limit": null}`, goImage, Fail},
		{"CMP004", "no cpus", "result", `{"cpus": null}`, goImage, Fail},
		{"CMP004", "pids unlimited", "result", `{"pids_limit": -1}`, goImage, Fail},
		{"CMP005", "password in the environment", "db", `{"environment": {"POSTGRES_PASSWORD": "hunter2", "POSTGRES_DB": "votes"}}`, nil, Fail},
		{"CMP005", "API key in the environment", "analyzer", `{"environment": {"LLM_API_KEY": "sk-123"}}`, goImage, Fail},
		{"CMP005", "password in a URL", "worker", `{"environment": {"DATABASE_URL": "postgres://worker:hunter2@db:5432/votes"}}`, goImage, Fail},
		{"CMP006", "disabled", "vote", `{"healthcheck": {"disable": true}}`, goImage, Fail},
		{"CMP006", "test NONE", "db", `{"healthcheck": {"test": ["NONE"]}}`, nil, Fail},
		{"CMP006", "none in compose nor image", "vote", `{"healthcheck": null}`, &ImageFacts{User: "65532"}, Fail},
		{"CMP006", "shell form", "vote", `{"healthcheck": {"test": ["CMD-SHELL", "wget -qO- localhost:9090/readyz"]}}`, goImage, Warn},
		{"CMP007", "privileged", "worker", `{"privileged": true}`, goImage, Fail},
		{"CMP008", "host network", "vote", `{"network_mode": "host", "networks": null, "ports": null}`, goImage, Fail},
		{"CMP008", "host pid", "worker", `{"pid": "host"}`, goImage, Fail},
		{"CMP008", "host ipc", "worker", `{"ipc": "host"}`, goImage, Fail},
		{"CMP009", "docker socket", "worker", `{"volumes": [{"type": "bind", "source": "/var/run/docker.sock", "target": "/var/run/docker.sock"}]}`, goImage, Fail},
		{"CMP010", "ops port published", "vote", `{"ports": [{"host_ip": "127.0.0.1", "target": 8080, "published": "8080"}, {"host_ip": "127.0.0.1", "target": 9090, "published": "9090"}]}`, goImage, Fail},
		{"CMP010", "database published", "db", `{"ports": [{"host_ip": "127.0.0.1", "target": 5432, "published": "5432"}]}`, nil, Fail},
		{"CMP010", "vote not published", "vote", `{"ports": null}`, goImage, Fail},
		{"CMP011", "every interface", "result", `{"ports": [{"target": 8081, "published": "8081"}]}`, goImage, Fail},
		{"CMP011", "0.0.0.0", "analyzer", `{"ports": [{"host_ip": "0.0.0.0", "target": 8082, "published": "8082"}]}`, goImage, Fail},
		{"CMP012", "compose user root", "db", `{"user": "root"}`, nil, Fail},
		{"CMP012", "compose user 0", "redis", `{"user": "0:0"}`, nil, Fail},
		{"CMP012", "image runs as root", "vote", `{}`, &ImageFacts{User: "", Healthcheck: goImage.Healthcheck}, Fail},
		{"CMP012", "no compose user, image unknown", "vote", `{}`, nil, Warn},
		{"CMP013", "seccomp unconfined", "vote", `{"security_opt": ["no-new-privileges:true", "seccomp:unconfined"]}`, goImage, Fail},
		{"CMP013", "apparmor unconfined", "vote", `{"security_opt": ["no-new-privileges:true", "apparmor=unconfined"]}`, goImage, Fail},
		{"CMP014", "latest", "redis", `{"image": "redis:latest"}`, nil, Fail},
		{"CMP014", "no tag", "db", `{"image": "postgres"}`, nil, Fail},
	}
}

func TestComposeGood(t *testing.T) {
	p, _ := loadProject(t)
	for _, name := range p.ServiceNames() {
		t.Run(name, func(t *testing.T) {
			img := goImage
			if p.Services[name].Build == nil {
				img = nil
			}
			for _, r := range CheckCompose(ComposeInput{Service: p.Services[name], Image: img}, DefaultPolicy()) {
				switch {
				case r.Status == Pass:
				case name == "redis" && r.Rule == "CMP006" && r.Status == Warn: // CMD-SHELL, see the policy
				case name == "seed" && r.Rule == "CMP006": // waived in the policy
				default:
					t.Errorf("%s %s: %s %s", r.Rule, r.Title, r.Status, r.Detail)
				}
			}
		})
	}
}

func TestComposeBad(t *testing.T) {
	_, raw := loadProject(t)
	for _, tc := range composeCases() {
		t.Run(tc.rule+"/"+tc.name, func(t *testing.T) {
			svc := withFragment(t, raw[tc.service], tc.service, tc.fragment)
			r := result(t, CheckCompose(ComposeInput{Service: svc, Image: tc.image}, DefaultPolicy()), tc.rule)
			if r.Status != tc.want {
				t.Fatalf("%s: %s (%s), want %s", tc.rule, r.Status, r.Detail, tc.want)
			}
			t.Logf("%s %s: %s", r.Rule, r.Status, r.Detail)
		})
	}
}

// A capability added back passes only with a justification in the policy.
func TestComposeCapAllowList(t *testing.T) {
	_, raw := loadProject(t)
	svc := withFragment(t, raw["db"], "db", `{"cap_add": ["CAP_CHOWN"]}`)
	p := DefaultPolicy()
	p.CapAdd = map[string]map[string]string{"db": {"CHOWN": "the entrypoint chowns a fresh volume"}}
	if r := result(t, CheckCompose(ComposeInput{Service: svc}, p), "CMP002"); r.Status != Pass {
		t.Errorf("CMP002 %s (%s), want pass with the justification", r.Status, r.Detail)
	}
}

// The limits may come from deploy.resources.limits instead of the top-level keys.
func TestComposeDeployLimits(t *testing.T) {
	_, raw := loadProject(t)
	svc := withFragment(t, raw["vote"], "vote", `{"mem_limit": null, "cpus": null, "pids_limit": null,
		"deploy": {"resources": {"limits": {"memory": "134217728", "cpus": "0.5", "pids": 128}}}}`)
	if r := result(t, CheckCompose(ComposeInput{Service: svc, Image: goImage}, DefaultPolicy()), "CMP004"); r.Status != Pass {
		t.Errorf("CMP004 %s (%s), want pass", r.Status, r.Detail)
	}
}

const composeYAML = `name: t
x-hardened: &hardened
  read_only: true
  cap_drop: [ALL]
x-go: &go
  <<: *hardened
  mem_limit: 128m
services:
  vote:
    <<: *go
    image: vote
    ports: ["127.0.0.1:8080:8080"]
  db:
    <<: [*hardened]
    image: postgres:17
    read_only: false
`

func TestComposeFileLines(t *testing.T) {
	cf, err := ParseComposeFile("compose.yml", []byte(composeYAML))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		service, key string
		want         int
	}{
		{"vote", "image", 11},
		{"vote", "ports", 12},
		{"vote", "mem_limit", 7}, // from x-go
		{"vote", "read_only", 3}, // from x-hardened through x-go
		{"vote", "user", 9},      // not set: the service's line
		{"db", "read_only", 16},  // its own wins over the merged one
		{"db", "cap_drop", 4},    // merged from a sequence
		{"missing", "image", 0},
	} {
		if got := cf.Line(tc.service, tc.key); got != tc.want {
			t.Errorf("Line(%s, %s) = %d, want %d", tc.service, tc.key, got, tc.want)
		}
	}
	if got, want := cf.Services(), []string{"vote", "db"}; len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("Services() = %v, want %v", got, want)
	}
}
