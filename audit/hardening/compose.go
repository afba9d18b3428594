package hardening

import (
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Project is the part of `docker compose config --format json` the rules read.
type Project struct {
	Name     string              `json:"name"`
	Services map[string]*Service `json:"services"`
}

// Service is one compose service, with every variable interpolated and every merge applied.
type Service struct {
	Name        string             `json:"-"`
	Image       string             `json:"image"`
	Build       *Build             `json:"build"`
	User        string             `json:"user"`
	ReadOnly    bool               `json:"read_only"`
	Privileged  bool               `json:"privileged"`
	CapAdd      []string           `json:"cap_add"`
	CapDrop     []string           `json:"cap_drop"`
	SecurityOpt []string           `json:"security_opt"`
	MemLimit    flexString         `json:"mem_limit"`
	CPUs        flexString         `json:"cpus"`
	PidsLimit   flexString         `json:"pids_limit"`
	Deploy      *Deploy            `json:"deploy"`
	Environment map[string]*string `json:"environment"`
	Healthcheck *Healthcheck       `json:"healthcheck"`
	NetworkMode string             `json:"network_mode"`
	Pid         string             `json:"pid"`
	Ipc         string             `json:"ipc"`
	Uts         string             `json:"uts"`
	UsernsMode  string             `json:"userns_mode"`
	Volumes     []Volume           `json:"volumes"`
	Ports       []Port             `json:"ports"`
	Profiles    []string           `json:"profiles"`
}

// Build is a service's build section.
type Build struct {
	Context    string            `json:"context"`
	Dockerfile string            `json:"dockerfile"`
	Args       map[string]string `json:"args"`
}

// Deploy holds the swarm-style limits, which compose also applies.
type Deploy struct {
	Resources struct {
		Limits struct {
			CPUs   flexString `json:"cpus"`
			Memory flexString `json:"memory"`
			Pids   flexString `json:"pids"`
		} `json:"limits"`
	} `json:"resources"`
}

// Healthcheck is a compose healthcheck; an empty Test means the image's.
type Healthcheck struct {
	Test    []string `json:"test"`
	Disable bool     `json:"disable"`
}

// Volume is a mount.
type Volume struct {
	Type   string `json:"type"`
	Source string `json:"source"`
	Target string `json:"target"`
}

// Port is a published port.
type Port struct {
	HostIP    string     `json:"host_ip"`
	Target    int        `json:"target"`
	Published flexString `json:"published"`
	Protocol  string     `json:"protocol"`
}

// flexString takes a JSON string or number (compose writes cpus as a number, mem_limit as a string).
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*f = flexString(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("want a string or a number, got %s", b)
	}
	*f = flexString(n.String())
	return nil
}

func (f flexString) set() bool { return f != "" && f != "0" }

// ParseProject reads the output of `docker compose config --format json`.
func ParseProject(b []byte) (*Project, error) {
	var p Project
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("compose config: %w", err)
	}
	for name, s := range p.Services {
		if s == nil {
			return nil, fmt.Errorf("compose config: service %s is empty", name)
		}
		s.Name = name
	}
	return &p, nil
}

// ServiceNames lists the services in name order.
func (p *Project) ServiceNames() []string { return slices.Sorted(maps.Keys(p.Services)) }

// ImageFacts is what the compose rules need to know about the service's image, when it is known.
type ImageFacts struct {
	User        string
	Healthcheck []string
}

// ComposeInput is one service and, if it was loaded, what its image says.
type ComposeInput struct {
	Service *Service
	Image   *ImageFacts
}

type composeRule struct {
	Rule
	// thirdParty: the rule only applies to services that use an image built elsewhere.
	thirdParty bool
	check      func(ComposeInput, Policy) Finding
}

func composeRules() []composeRule {
	cmp := func(id, title, why, fix string, check func(ComposeInput, Policy) Finding) composeRule {
		return composeRule{Rule: Rule{ID: id, Scope: ScopeCompose, Title: title, Why: why, Fix: fix}, check: check}
	}
	rules := []composeRule{
		cmp("CMP001", "read-only root file system",
			"an intruder cannot change the binary or drop files; writes go to a tmpfs or a volume on purpose",
			"read_only: true (and tmpfs: [/tmp] where the service needs scratch space)",
			checkReadOnly),
		cmp("CMP002", "all capabilities dropped",
			"root or not, a process without capabilities cannot change ownership, bind low ports or trace others",
			"cap_drop: [ALL]; a cap_add needs an entry with its reason in the audit policy",
			checkCaps),
		cmp("CMP003", "no-new-privileges",
			"setuid binaries and file capabilities cannot raise the process's privileges",
			"security_opt: [no-new-privileges:true]",
			checkNoNewPrivileges),
		cmp("CMP004", "memory, CPU and pids limits",
			"one runaway service cannot starve the host or its neighbours; the Go runtime sizes GOMEMLIMIT from the limit",
			"mem_limit, cpus, pids_limit (or deploy.resources.limits)",
			checkLimits),
		cmp("CMP005", "no secrets in the environment",
			"environment values show in docker inspect, /proc/<pid>/environ and crash reports",
			"mount secrets as files (secrets:) and pass their path in *_FILE variables",
			checkEnvSecrets),
		cmp("CMP006", "healthcheck",
			"depends_on: service_healthy and up --wait need it; a hung service is restarted",
			"healthcheck: in compose, or HEALTHCHECK in the image",
			checkComposeHealthcheck),
		cmp("CMP007", "not privileged",
			"privileged gives every capability and every device: the container is the host",
			"remove privileged: true",
			checkPrivileged),
		cmp("CMP008", "no host namespaces",
			"the host's network, PID, IPC or user namespace removes the isolation the container exists for",
			"remove network_mode/pid/ipc/uts/userns_mode: host",
			checkNamespaces),
		cmp("CMP009", "no Docker socket",
			"the Docker socket is root on the host for whoever can write to it",
			"remove the docker.sock mount",
			checkDockerSocket),
		cmp("CMP010", "published ports as intended",
			"every published port is an entry point; internal ports (ops, databases) stay on the compose networks",
			"ports: only vote 8080, result 8081, analyzer 8082; the audit policy lists them",
			checkPublished),
		cmp("CMP011", "ports bound to loopback",
			"a port bound to 0.0.0.0 is reachable from the network the host is on, not only from the host",
			`ports: ["${PUBLISH_ADDR:-127.0.0.1}:8080:8080"]`,
			checkLoopback),
		cmp("CMP012", "numeric non-root user",
			"a service runs as the compose user, else the image's; either must be a non-root number",
			`user: "uid:gid" in compose, or USER in the image`,
			checkComposeUser),
		cmp("CMP013", "default seccomp and AppArmor profiles kept",
			"the default seccomp profile blocks about 50 rarely needed system calls (kexec, mount, ptrace…)",
			"remove seccomp:unconfined / apparmor:unconfined from security_opt",
			checkSeccomp),
	}
	pinned := cmp("CMP014", "third-party image pinned",
		"a moving tag (or latest) changes the database under the same compose file; a digest pins it exactly",
		"image: name:version or name@sha256:digest",
		checkImagePinned)
	pinned.thirdParty = true
	return append(rules, pinned)
}

// CheckCompose runs the compose rules for one service. A Result's Where is the compose key it is
// about; the caller turns it into a file and line (ComposeFile.Line).
func CheckCompose(in ComposeInput, p Policy) []Result {
	var out []Result
	for _, r := range composeRules() {
		if r.thirdParty && in.Service.Build != nil {
			continue
		}
		f := r.check(in, p)
		out = append(out, Result{Rule: r.ID, Scope: r.Scope, Title: r.Title, Status: f.Status, Detail: f.Detail, Why: r.Why, Where: f.Key})
	}
	return out
}

func checkReadOnly(in ComposeInput, _ Policy) Finding {
	if !in.Service.ReadOnly {
		return fail("read_only is not set").key("read_only")
	}
	return pass("read_only: true").key("read_only")
}

func checkCaps(in ComposeInput, p Policy) Finding {
	s := in.Service
	if !slices.ContainsFunc(s.CapDrop, func(c string) bool { return strings.EqualFold(c, "ALL") }) {
		return fail("cap_drop %v does not drop ALL", s.CapDrop).key("cap_drop")
	}
	var justified []string
	for _, c := range s.CapAdd {
		name := strings.TrimPrefix(strings.ToUpper(c), "CAP_")
		why, ok := p.CapAdd[s.Name][name]
		if !ok {
			return fail("cap_add %s has no justification in the audit policy", name).key("cap_add")
		}
		justified = append(justified, name+" ("+why+")")
	}
	if len(justified) > 0 {
		return pass("cap_drop ALL; cap_add %s", strings.Join(justified, ", ")).key("cap_add")
	}
	return pass("cap_drop: [ALL], no cap_add").key("cap_drop")
}

func checkNoNewPrivileges(in ComposeInput, _ Policy) Finding {
	for _, o := range in.Service.SecurityOpt {
		switch strings.ReplaceAll(o, "=", ":") {
		case "no-new-privileges", "no-new-privileges:true":
			return pass("%s", o).key("security_opt")
		}
	}
	return fail("security_opt %v lacks no-new-privileges:true", in.Service.SecurityOpt).key("security_opt")
}

func checkLimits(in ComposeInput, _ Policy) Finding {
	s := in.Service
	var l struct{ CPUs, Memory, Pids flexString }
	if s.Deploy != nil {
		l.CPUs, l.Memory, l.Pids = s.Deploy.Resources.Limits.CPUs, s.Deploy.Resources.Limits.Memory, s.Deploy.Resources.Limits.Pids
	}
	mem, cpus, pids := cmpOr(s.MemLimit, l.Memory), cmpOr(s.CPUs, l.CPUs), cmpOr(s.PidsLimit, l.Pids)
	var missing []string
	if !mem.set() {
		missing = append(missing, "memory (mem_limit)")
	}
	if !cpus.set() {
		missing = append(missing, "cpus")
	}
	if !pids.set() || pids == "-1" {
		missing = append(missing, "pids_limit")
	}
	if len(missing) > 0 {
		return fail("no %s limit", strings.Join(missing, ", ")).key(firstKey(missing))
	}
	memText := string(mem)
	if n, err := strconv.ParseInt(memText, 10, 64); err == nil {
		memText = MiBs(n)
	}
	return pass("memory %s, cpus %s, pids %s", memText, cpus, pids).key("mem_limit")
}

func cmpOr(a, b flexString) flexString {
	if a.set() {
		return a
	}
	return b
}

func firstKey(missing []string) string {
	switch {
	case strings.HasPrefix(missing[0], "memory"):
		return "mem_limit"
	case missing[0] == "cpus":
		return "cpus"
	}
	return "pids_limit"
}

// credentialURL matches a URL with a password in it: scheme://user:password@host.
var credentialURL = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*://[^/@:]*:[^/@]+@`)

func checkEnvSecrets(in ComposeInput, _ Policy) Finding {
	env := in.Service.Environment
	var files []string
	for _, k := range slices.Sorted(maps.Keys(env)) {
		v := env[k]
		if v == nil || *v == "" {
			continue
		}
		if secretName(k) {
			return fail("%s has a value in the environment", k).key("environment")
		}
		if credentialURL.MatchString(*v) {
			return fail("%s is a URL with a password in it", k).key("environment")
		}
		if strings.HasSuffix(k, "_FILE") {
			files = append(files, k)
		}
	}
	if len(files) > 0 {
		return pass("secrets as files: %s", strings.Join(files, ", ")).key("environment")
	}
	return pass("%d variables, no secret values", len(env)).key("environment")
}

func checkComposeHealthcheck(in ComposeInput, _ Policy) Finding {
	h := in.Service.Healthcheck
	if h != nil && (h.Disable || (len(h.Test) > 0 && h.Test[0] == "NONE")) {
		return fail("healthcheck disabled").key("healthcheck")
	}
	if h != nil && len(h.Test) > 0 {
		if h.Test[0] == "CMD-SHELL" {
			return warn("compose test in shell form (needs a shell in the image): %s", strings.Join(h.Test[1:], " ")).key("healthcheck")
		}
		return pass("compose test %q", h.Test[1:]).key("healthcheck")
	}
	switch {
	case in.Image == nil:
		return warn("no compose test; the image was not read, so its HEALTHCHECK is unknown").key("healthcheck")
	case len(in.Image.Healthcheck) > 0 && in.Image.Healthcheck[0] != "NONE":
		return pass("the image's %q", in.Image.Healthcheck[1:]).key("healthcheck")
	}
	return fail("no healthcheck in compose or in the image").key("healthcheck")
}

func checkPrivileged(in ComposeInput, _ Policy) Finding {
	if in.Service.Privileged {
		return fail("privileged: true").key("privileged")
	}
	return pass("not privileged").key("privileged")
}

func checkNamespaces(in ComposeInput, _ Policy) Finding {
	s := in.Service
	for _, ns := range []struct{ key, value string }{
		{"network_mode", s.NetworkMode}, {"pid", s.Pid}, {"ipc", s.Ipc}, {"uts", s.Uts}, {"userns_mode", s.UsernsMode},
	} {
		if ns.value == "host" {
			return fail("%s: host", ns.key).key(ns.key)
		}
	}
	return pass("own network, PID, IPC and UTS namespaces")
}

func checkDockerSocket(in ComposeInput, _ Policy) Finding {
	for _, v := range in.Service.Volumes {
		if strings.HasSuffix(v.Source, "docker.sock") || strings.HasSuffix(v.Target, "docker.sock") {
			return fail("mounts %s at %s", v.Source, v.Target).key("volumes")
		}
	}
	return pass("%d mounts, no docker.sock", len(in.Service.Volumes)).key("volumes")
}

func checkPublished(in ComposeInput, p Policy) Finding {
	want := slices.Sorted(slices.Values(p.Ports[in.Service.Name]))
	var got []int
	for _, port := range in.Service.Ports {
		if port.Published.set() || port.HostIP != "" || port.Target > 0 {
			got = append(got, port.Target)
		}
	}
	slices.Sort(got)
	got = slices.Compact(got)
	if !slices.Equal(got, want) {
		if len(want) == 0 {
			return fail("publishes %v; it should publish none", got).key("ports")
		}
		return fail("publishes %v; want %v", got, want).key("ports")
	}
	if len(got) == 0 {
		return pass("publishes nothing").key("ports")
	}
	return pass("publishes %v", got).key("ports")
}

func checkLoopback(in ComposeInput, _ Policy) Finding {
	var bound []string
	for _, port := range in.Service.Ports {
		switch port.HostIP {
		case "127.0.0.1", "::1", "localhost":
			bound = append(bound, fmt.Sprintf("%s:%s->%d", port.HostIP, port.Published, port.Target))
		default:
			ip := port.HostIP
			if ip == "" {
				ip = "every interface"
			}
			return fail("port %d published on %s", port.Target, ip).key("ports")
		}
	}
	if len(bound) == 0 {
		return pass("nothing published").key("ports")
	}
	return pass("%s", strings.Join(bound, ", ")).key("ports")
}

func checkComposeUser(in ComposeInput, _ Policy) Finding {
	u, from := in.Service.User, "compose user"
	if u == "" {
		if in.Image == nil {
			return warn("no compose user; the image was not read, so its USER is unknown").key("user")
		}
		u, from = in.Image.User, "the image's USER"
	}
	if p := userProblem(u); p != "" {
		return fail("%s: %s", from, p).key("user")
	}
	return pass("%s %s", from, u).key("user")
}

func checkSeccomp(in ComposeInput, _ Policy) Finding {
	for _, o := range in.Service.SecurityOpt {
		k, v, _ := strings.Cut(strings.ReplaceAll(o, "=", ":"), ":")
		if (k == "seccomp" || k == "apparmor") && v == "unconfined" {
			return fail("security_opt %s", o).key("security_opt")
		}
	}
	return pass("default profiles").key("security_opt")
}

func checkImagePinned(in ComposeInput, _ Policy) Finding {
	how, ok := pinning(in.Service.Image)
	if !ok {
		return fail("image %s: %s", in.Service.Image, how).key("image")
	}
	return pass("%s (%s)", in.Service.Image, how).key("image")
}
