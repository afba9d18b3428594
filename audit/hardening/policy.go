package hardening

import "slices"

// MiB is a mebibyte, the unit of the size limits.
const MiB = 1 << 20

// Policy is what the rules compare against, and the one place where exceptions are written down.
type Policy struct {
	// TargetSize is the project's goal for an image built here (uncompressed): above it IMG009
	// warns. MaxSize is the ceiling: above it IMG009 fails.
	TargetSize int64 `json:"target_size"`
	MaxSize    int64 `json:"max_size"`
	// MaxLayers is the most layers an image may have (IMG010).
	MaxLayers int `json:"max_layers"`
	// Ports lists the container ports each service may publish; a service not named publishes
	// none (CMP010).
	Ports map[string][]int `json:"ports"`
	// CapAdd lists, per service, the capabilities it may add back after dropping ALL, each with
	// its justification (CMP002). Empty: no service needs one.
	CapAdd map[string]map[string]string `json:"cap_add,omitempty"`
	// Released lists the services make release builds, signs and attests (the REL rules).
	Released []string `json:"released"`
	// Waivers are the documented exceptions. A waived rule still runs and its finding is shown,
	// with the reason; a waiver whose rule passes is reported as unused.
	Waivers []Waiver `json:"waivers"`
}

// Waiver excuses one rule for one service.
type Waiver struct {
	Service string `json:"service"`
	Rule    string `json:"rule"`
	Reason  string `json:"reason"`
}

// DefaultPolicy is the project's policy: the published ports of docker-compose.yml and the
// exceptions for the two third-party server images and the two one-shots (load tool, secrets).
func DefaultPolicy() Policy {
	const (
		store   = "third-party server image: "
		oneShot = "one-shot load tool: its exit code is its health, and compose waits for it with service_completed_successfully"
		secrets = "one-shot that makes the secrets before the other services start: its exit code is its health, and they wait for it with service_completed_successfully"
		viaCmp  = "compose runs it as user 999:999 (CMP012), so the image's default never applies"
		entry   = "the image's entrypoint is a shell script that prepares the data directory and honours the *_FILE variables"
		suid    = "Debian's su, passwd, mount…; inert here: compose sets no-new-privileges (CMP003) and drops every capability (CMP002)"
		pkgs    = "Debian-based: dpkg and apt come with the base"
		shell   = "the entrypoint script and the healthcheck need a shell"
		health  = "the healthcheck is defined in docker-compose.yml (CMP006), not in the image"
		labels  = "labels are the publisher's; the source/revision of the upstream build are not ours to set"
		size    = "a database server with its libraries and locales; not held to the Go services' budget"
		layers  = "layering is the publisher's choice"
		socket  = "the socket directory /run/postgresql (3777, as upstream: world-writable and setgid, not only sticky); the root file system is read-only (CMP001) and compose mounts a tmpfs over it"
		noTLS   = "the server makes no outgoing TLS connections"
	)
	var w []Waiver
	for _, svc := range []string{"db", "redis"} {
		w = append(w,
			Waiver{svc, "IMG001", store + viaCmp},
			Waiver{svc, "IMG002", store + shell},
			Waiver{svc, "IMG003", store + pkgs},
			Waiver{svc, "IMG004", store + suid},
			Waiver{svc, "IMG006", store + entry},
			Waiver{svc, "IMG007", store + health},
			Waiver{svc, "IMG008", store + labels},
			Waiver{svc, "IMG009", store + size},
			Waiver{svc, "IMG010", store + layers},
			Waiver{svc, "IMG011", store + noTLS},
		)
	}
	// Prometheus (compose profile monitoring): upstream's image or the Debian stand-in, as published.
	const (
		prom      = "third-party monitoring image: "
		promShell = "the upstream image is busybox-based, the stand-in Debian-based; both come with a shell"
		promPkgs  = "the stand-in is Debian-based: dpkg and apt come with the base"
		promSize  = "Prometheus with its web UI (and, in the stand-in, Debian's base and JavaScript libraries); not held to the Go services' budget"
		promTLS   = "it scrapes over plain HTTP on the internal ops network and calls nothing outside"
	)
	w = append(w,
		Waiver{"prometheus", "IMG002", prom + promShell},
		Waiver{"prometheus", "IMG003", prom + promPkgs},
		Waiver{"prometheus", "IMG004", prom + suid},
		Waiver{"prometheus", "IMG007", prom + health},
		Waiver{"prometheus", "IMG008", prom + labels},
		Waiver{"prometheus", "IMG009", prom + promSize},
		Waiver{"prometheus", "IMG010", prom + layers},
		Waiver{"prometheus", "IMG011", prom + promTLS},
	)
	w = append(w,
		Waiver{"db", "IMG005", store + socket},
		Waiver{"seed", "DF008", oneShot},
		Waiver{"seed", "IMG007", oneShot},
		Waiver{"seed", "CMP006", oneShot},
		Waiver{"secrets-init", "DF008", secrets},
		Waiver{"secrets-init", "IMG007", secrets},
		Waiver{"secrets-init", "CMP006", secrets},
	)
	return Policy{
		TargetSize: 12 * MiB,
		MaxSize:    64 * MiB,
		MaxLayers:  8,
		Ports: map[string][]int{
			"vote":     {8080},
			"result":   {8081},
			"analyzer": {8082},
			// The monitoring profile's web UI and dashboard, on loopback like the others (CMP011).
			"prometheus": {9090},
		},
		Released: []string{"vote", "worker", "result", "analyzer"},
		Waivers:  w,
	}
}

func (p Policy) waiver(service, rule string) (Waiver, bool) {
	i := slices.IndexFunc(p.Waivers, func(w Waiver) bool { return w.Service == service && w.Rule == rule })
	if i < 0 {
		return Waiver{}, false
	}
	return p.Waivers[i], true
}
