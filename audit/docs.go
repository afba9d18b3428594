package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/go-voting-app/voting-app/audit/hardening"
)

// ref points at the line of a file that does a practice. The line is found by pattern each time
// the document is generated, so the numbers follow the files; a pattern that no longer matches
// exactly one line is an error.
type ref struct {
	file, pattern string
}

// practice is one row of the teaching table in docs/hardening.md.
type practice struct {
	classic string // the practice as the Python/Node/.NET note gives it
	goForm  string // what the Go services do instead
	refs    []ref
	rules   string // audit rules that check it
	effect  string // what it measurably changes, or "—"
}

const (
	voteDF  = "vote/Dockerfile"
	compose = "docker-compose.yml"
)

// classicPractices follow the classic container best-practices note, row by row. The effects are
// the numbers measured for docs/size-ladder.md, docs/sizes.md and the section "Measured" below.
func classicPractices() []practice {
	return []practice{
		{"Slim base image (python:3-slim, node:alpine, aspnet:*-chiseled)",
			"distroless static runtime: CA bundle, tzdata, passwd, nothing else (about 2.0 MiB)",
			[]ref{{voteDF, `^ARG RUNTIME_IMAGE=`}, {voteDF, `^FROM \$\{RUNTIME_IMAGE\}`}},
			"IMG002 IMG003 IMG004 IMG009",
			"size ladder step 2 → 3 (Debian slim → distroless): 81.3 → 12.8 MiB uncompressed; shell, apt/dpkg and 11 setuid programs gone"},
		{"Multi-stage builds",
			"a builder stage on the Go image, a runtime stage that copies only the binary",
			[]ref{{voteDF, `^FROM --platform=\$BUILDPLATFORM \$\{GO_IMAGE\} AS build`}, {voteDF, `^FROM \$\{RUNTIME_IMAGE\}`}},
			"DF001 DF013 IMG014",
			"size ladder step 1 → 2: 657.6 → 81.3 MiB (toolchain, module and build caches stay behind)"},
		{"Layer caching: install dependencies before copying sources (requirements.txt, package.json, *.csproj)",
			"go.mod/go.sum copied alone, `go mod download`, then the sources",
			[]ref{{voteDF, `^COPY vote/go.mod vote/go.sum`}, {voteDF, `^RUN --mount=type=cache,target=/go/pkg/mod go mod download`}},
			"DF004 DF005",
			"a source-only change reuses the download layer; cache mounts keep modules and compiled packages out of every layer"},
		{"No bytecode, unbuffered logs (PYTHONDONTWRITEBYTECODE, PYTHONUNBUFFERED)",
			"nothing to set: Go compiles ahead of time, and slog writes JSON lines straight to stdout (os.Stdout has no buffer)",
			[]ref{{"platform/app/app.go", `slog\.NewJSONHandler\(w,`}},
			"—", "—"},
		{"Wheels / prebuilt dependencies",
			"one static binary: CGO_ENABLED=0, -trimpath, stripped with -ldflags \"-s -w\"",
			[]ref{{voteDF, `^ENV GOWORK=off CGO_ENABLED=0`}, {voteDF, `go build -trimpath`}},
			"DF011 DF012",
			"-s -w: vote 16.19 → 11.24 MB (−4.7 MiB); static: the same binary runs on scratch (size ladder step 4)"},
		{"Cross-builds with BUILDPLATFORM/TARGETARCH",
			"the compiler runs on the build platform and cross-compiles (GOOS/GOARCH from TARGETOS/TARGETARCH), no emulation",
			[]ref{{voteDF, `^FROM --platform=\$BUILDPLATFORM`}, {voteDF, `GOOS=\$TARGETOS GOARCH=\$TARGETARCH go build`}},
			"DF003", "—"},
		{"Production-only dependencies (pip --no-dev, npm ci --omit=dev, dotnet publish)",
			"nothing to prune: the linker takes only packages main imports; test-only modules never reach the binary",
			[]ref{{voteDF, `-o /out/vote \.$`}},
			"DF013",
			"vote: 16 modules linked (go version -m) of 56 in its module graph (go list -m all)"},
		{"setcap cap_net_bind_service for a privileged port",
			"listen on ports ≥ 1024 (8080–8082, ops 9090); compose maps them; no capability at all",
			[]ref{{voteDF, `^EXPOSE 8080 9090`}, {compose, `^  cap_drop: \[ALL\]`}},
			"DF014 CMP002",
			"CapEff/CapPrm/CapBnd 0 in every service container (checked by make e2e)"},
		{"tini as PID 1 (docker run --init)",
			"the binary is PID 1 and handles SIGTERM itself (signal.NotifyContext, graceful drain); compose says init: false",
			[]ref{{"platform/app/app.go", `signal\.NotifyContext\(`}, {compose, `^  init: false`}},
			"DF007 IMG006", "no init binary in the image"},
		{"Non-root user",
			"USER 65532:65532 (distroless nonroot), numeric",
			[]ref{{voteDF, `^USER 65532:65532`}},
			"DF006 IMG001 CMP012",
			"Uid/Gid 65532 for every Go service process (checked by make e2e)"},
		{"ENTRYPOINT in exec form",
			`ENTRYPOINT ["/vote"]: no /bin/sh -c between the engine and the binary (there is no shell)`,
			[]ref{{voteDF, `^ENTRYPOINT \["/vote"\]`}},
			"DF007 IMG006", "—"},
		{"GC heap limit (.NET GCHeapHardLimit, Node --max-old-space-size)",
			"GOMEMLIMIT set from the cgroup memory limit at start (automemlimit, 90%); compose sets the limit",
			[]ref{{"platform/app/app.go", `memlimit\.Set\(`}, {compose, `^  mem_limit: 128m`}},
			"CMP004", "—"},
		{"Diagnostics off (DOTNET_EnableDiagnostics=0)",
			"no pprof or debug endpoints are compiled in; /metrics and probes live on the ops port 9090, which compose does not publish",
			[]ref{{compose, `PUBLISH_ADDR:-127\.0\.0\.1\}:\$\{VOTE_PORT`}},
			"CMP010 CMP011", "published: 8080, 8081, 8082 on 127.0.0.1 only"},
		{"HEALTHCHECK with curl",
			"HEALTHCHECK runs the binary's own healthcheck subcommand (it asks /readyz on the ops port)",
			[]ref{{voteDF, `^HEALTHCHECK .*\["/vote", "healthcheck"\]`}, {"platform/ops/healthcheck.go", `^func `}},
			"DF008 IMG007 CMP006", "no curl and no shell in the image"},
	}
}

// beyondPractices is the hardening the classic note does not mention.
func beyondPractices() []practice {
	return []practice{
		{"Distroless (no shell, no package manager)",
			"the runtime is distroless static; nothing to exec into",
			[]ref{{voteDF, `^FROM \$\{RUNTIME_IMAGE\}`}},
			"IMG002 IMG003 IMG004 IMG014",
			"Debian slim → distroless: /bin/sh and bash, apt/dpkg, 11 setuid/setgid programs removed"},
		{"Numeric UID",
			"65532:65532, so Kubernetes runAsNonRoot can verify it without /etc/passwd",
			[]ref{{voteDF, `^USER 65532:65532`}},
			"DF006 IMG001 IMG013 CMP012", "—"},
		{"Read-only root file system",
			"read_only: true, a 16 MiB tmpfs at /tmp",
			[]ref{{compose, `^  read_only: true`}, {compose, `^  tmpfs: \[/tmp:size=16m\]`}},
			"CMP001", "—"},
		{"Capabilities dropped",
			"cap_drop: [ALL], no cap_add anywhere (the stores too: they run as 999:999)",
			[]ref{{compose, `^  cap_drop: \[ALL\]`}},
			"CMP002", "CapEff 0 (make e2e)"},
		{"No privilege escalation",
			"no-new-privileges:true on every container",
			[]ref{{compose, `^  security_opt: \[no-new-privileges:true\]`}},
			"CMP003", "NoNewPrivs 1 (make e2e)"},
		{"Seccomp / Pod Security Standards",
			"the engine's default seccomp profile is kept; the Kubernetes manifests (deploy/k8s) target PSS restricted with seccompProfile RuntimeDefault",
			[]ref{{compose, `^  security_opt: \[no-new-privileges:true\]`}},
			"CMP013", "—"},
		{"Resource limits",
			"memory (swap included), CPU and pids limits on every service",
			[]ref{{compose, `^  mem_limit: 128m`}, {compose, `^  pids_limit: 128`}},
			"CMP004", "—"},
		{"Secrets as files",
			"*_FILE variables name files at /run/secrets, a read-only volume secrets-init fills on first start (or files you supply); no secret in ENV, ARG or the image",
			[]ref{{compose, `REDIS_PASSWORD_FILE: /run/secrets/redis_vote_password`}},
			"CMP005 DF010", "—"},
		{"Digest pinning",
			"every base by digest on the release path: up.sh pushes the stand-ins to the local registry and writes name@sha256 for the Go builder, the static runtime (an index for amd64 and arm64), Postgres and Redis to out/release/bases.env; compose and the Dockerfiles take them as GO_IMAGE, RUNTIME_IMAGE, POSTGRES_IMAGE, REDIS_IMAGE",
			[]ref{{"deploy/release/up.sh", `^\t\tGO_IMAGE=\$go_image`}, {voteDF, `^ARG GO_IMAGE=`}},
			"DF002 CMP014", "make audit with the release: DF002 and CMP014 report (digest) for every base of the four services and both stores"},
		{"SBOM and provenance",
			"BuildKit attaches an SPDX SBOM (syft, run through BuildKit's scanner protocol by deploy/release/sbomscan) and SLSA v1 provenance (mode=max) to each platform's image; make audit reads both back from the registry",
			[]ref{{"deploy/release/docker-bake.hcl", `^  attest = \[`}},
			"REL002 REL003", "every module of each binary (go version -m) is in its SBOM: vote 18, result 22, analyzer 21, worker 23, on amd64 and arm64; the provenance names the commit"},
		{"Reproducible builds and timestamps",
			"SOURCE_DATE_EPOCH from the commit time, rewrite-timestamp=true on the exporter, bases by digest, -trimpath; the SBOM generator stamps its document with the same time",
			[]ref{{"deploy/release/docker-bake.hcl", `push=true,rewrite-timestamp=true`}, {voteDF, `^ARG CREATED=`}},
			"DF011 IMG008", "make release-repro: a second build on a builder with empty caches gives the same image manifest, config, layers and SBOM for all four services on both platforms"},
		{"Multi-architecture images",
			"one image index per service for linux/amd64 and linux/arm64: the compiler cross-compiles on the build platform, the static runtime has no programs, so no RUN step is emulated",
			[]ref{{"deploy/release/docker-bake.hcl", `^  platforms  = `}},
			"REL001 DF003", "make release-emulate: every arm64 binary from the registry runs under qemu-aarch64-static (version, GET /livez; vote takes a vote into Redis)"},
		{"Signed images, verified before deploy",
			"cosign signs each index by digest with the release key pair (offline: no transparency log); deploy.sh verifies every image before compose starts it",
			[]ref{{"deploy/release/build.sh", `sign --yes --key`}, {"deploy/release/deploy.sh", `"\$COSIGN" verify --key`}},
			"REL004", "make audit-selftest: one byte of a released image changed and re-pushed is rejected, unsigned (no signatures found) and with the old signature copied onto it (invalid digest in claim)"},
	}
}

// resolve finds a ref's line.
func (r ref) resolve(root string) (int, error) {
	b, err := os.ReadFile(filepath.Join(root, r.file))
	if err != nil {
		return 0, err
	}
	re, err := regexp.Compile(r.pattern)
	if err != nil {
		return 0, err
	}
	line := 0
	for i, l := range strings.Split(string(b), "\n") {
		if re.MatchString(l) {
			if line != 0 {
				return 0, fmt.Errorf("%s: %q matches lines %d and %d", r.file, r.pattern, line, i+1)
			}
			line = i + 1
		}
	}
	if line == 0 {
		return 0, fmt.Errorf("%s: no line matches %q", r.file, r.pattern)
	}
	return line, nil
}

func practiceTable(root string, ps []practice) (string, error) {
	var b strings.Builder
	b.WriteString("| practice (Python / Node / .NET) | the Go way | where | audit rule | measured effect |\n")
	b.WriteString("| --- | --- | --- | --- | --- |\n")
	for _, p := range ps {
		var where []string
		for _, r := range p.refs {
			line, err := r.resolve(root)
			if err != nil {
				return "", err
			}
			where = append(where, fmt.Sprintf("[`%s:%d`](../%s#L%d)", r.file, line, r.file, line))
		}
		if len(where) == 0 {
			where = []string{"—"}
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", cell(p.classic), cell(p.goForm), strings.Join(where, "<br>"), p.rules, cell(p.effect))
	}
	return b.String(), nil
}

func cell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

func rulesTable() string {
	var b strings.Builder
	b.WriteString("| rule | checks | why it matters | how to fix |\n| --- | --- | --- | --- |\n")
	for _, r := range hardening.Catalogue() {
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", r.ID, cell(r.Title), cell(r.Why), cell(r.Fix))
	}
	return b.String()
}

func waiversTable() string {
	var b strings.Builder
	b.WriteString("| service | rule | reason |\n| --- | --- | --- |\n")
	for _, w := range hardening.DefaultPolicy().Waivers {
		fmt.Fprintf(&b, "| %s | %s | %s |\n", w.Service, w.Rule, cell(w.Reason))
	}
	return b.String()
}

// renderDocs returns doc with every generated section replaced by its current content.
func renderDocs(root string, doc []byte) ([]byte, error) {
	classic, err := practiceTable(root, classicPractices())
	if err != nil {
		return nil, err
	}
	beyond, err := practiceTable(root, beyondPractices())
	if err != nil {
		return nil, err
	}
	for name, content := range map[string]string{"classic": classic, "beyond": beyond, "rules": rulesTable(), "waivers": waiversTable()} {
		begin, end := []byte("<!-- "+name+":begin -->\n"), []byte("<!-- "+name+":end -->")
		i, j := bytes.Index(doc, begin), bytes.Index(doc, end)
		if i < 0 || j < i {
			return nil, fmt.Errorf("no section %q (%s … %s)", name, bytes.TrimSpace(begin), end)
		}
		doc = append(doc[:i+len(begin):i+len(begin)], append([]byte(content), doc[j:]...)...)
	}
	return doc, nil
}

// runDocs regenerates the tables of docs/hardening.md: where each practice is done (file and
// line, found anew), the rule catalogue and the waivers.
func runDocs(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("audit docs", flag.ContinueOnError)
	fs.SetOutput(stderr)
	root := fs.String("root", ".", "repository root")
	doc := fs.String("doc", "docs/hardening.md", "the document, relative to -root")
	check := fs.Bool("check", false, "only check that the document is up to date")
	if err := fs.Parse(args); err != nil {
		return err
	}
	path := filepath.Join(*root, *doc)
	old, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	updated, err := renderDocs(*root, bytes.Clone(old))
	if err != nil {
		return fmt.Errorf("%s: %w", *doc, err)
	}
	if bytes.Equal(old, updated) {
		fmt.Fprintf(stdout, "%s is up to date\n", *doc)
		return nil
	}
	if *check {
		return fmt.Errorf("%s is out of date: run `go run ./audit docs` (in audit/: go run . docs -root ..)", *doc)
	}
	if err := os.WriteFile(path, updated, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "updated %s\n", *doc)
	return nil
}
