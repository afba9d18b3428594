package hardening

import (
	"bytes"
	"fmt"
	"maps"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
)

// Dockerfile is a parsed Dockerfile with its FROM lines resolved.
type Dockerfile struct {
	// Path is the file as it is shown in Where (relative to the repository root).
	Path   string
	Stages []Stage
	Meta   []instructions.ArgCommand
}

// Stage is one FROM … section.
type Stage struct {
	instructions.Stage
	Index int
	// Bases are the resolved base images: with the ARG defaults and, when they differ, with the
	// build arguments the build passes. Empty for a stage built on an earlier stage.
	Bases []string
	// From is the earlier stage this one builds on, or -1.
	From int
}

// Line is the line of the stage's FROM.
func (s Stage) Line() int { return startLine(s.Location) }

// Final is the stage whose result is the image.
func (d *Dockerfile) Final() Stage { return d.Stages[len(d.Stages)-1] }

// ParseDockerfile parses src with BuildKit's parser and resolves the FROM lines, once with the ARG
// defaults and once with buildArgs (what the build passes, e.g. compose's build.args).
func ParseDockerfile(name string, src []byte, buildArgs map[string]string) (*Dockerfile, error) {
	res, err := parser.Parse(bytes.NewReader(src))
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", name, err)
	}
	stages, meta, err := instructions.Parse(res.AST, linter.New(&linter.Config{}))
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", name, err)
	}
	if len(stages) == 0 {
		return nil, fmt.Errorf("parse %s: no FROM", name)
	}
	defaults := map[string]string{}
	for _, a := range meta {
		for _, kv := range a.Args {
			defaults[kv.Key] = kv.ValueString()
		}
	}
	given := maps.Clone(defaults)
	for k, v := range buildArgs {
		// Like BuildKit: a build argument reaches FROM only if a global ARG declares it.
		if _, ok := defaults[k]; ok {
			given[k] = v
		}
	}
	lex := shell.NewLex(res.EscapeToken)
	df := &Dockerfile{Path: name, Meta: meta}
	for i, s := range stages {
		st := Stage{Stage: s, Index: i, From: -1}
		if j := slices.IndexFunc(stages[:i], func(p instructions.Stage) bool {
			return p.Name != "" && strings.EqualFold(p.Name, s.BaseName)
		}); j >= 0 {
			st.From = j
		} else {
			for _, env := range []map[string]string{defaults, given} {
				base, _, err := lex.ProcessWord(s.BaseName, shell.EnvsFromSlice(envList(env)))
				if err != nil {
					return nil, fmt.Errorf("%s:%d: resolve %q: %w", name, st.Line(), s.BaseName, err)
				}
				if !slices.Contains(st.Bases, base) {
					st.Bases = append(st.Bases, base)
				}
			}
		}
		// RUN --mount options are parsed once a word expander is known.
		env := shell.EnvsFromSlice(envList(given))
		for _, c := range st.Commands {
			if r, ok := c.(*instructions.RunCommand); ok {
				err := r.Expand(func(w string) (string, error) {
					s, _, err := lex.ProcessWord(w, env)
					return s, err
				})
				if err != nil {
					return nil, fmt.Errorf("%s:%d: %w", name, cmdLine(r), err)
				}
			}
		}
		df.Stages = append(df.Stages, st)
	}
	return df, nil
}

func envList(m map[string]string) []string {
	var l []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		l = append(l, k+"="+m[k])
	}
	return l
}

func startLine(r []parser.Range) int {
	if len(r) == 0 {
		return 0
	}
	return r[0].Start.Line
}

func cmdLine(c instructions.Command) int { return startLine(c.Location()) }

// commands of type T in a stage, in order.
func commands[T instructions.Command](s Stage) []T {
	var out []T
	for _, c := range s.Commands {
		if t, ok := c.(T); ok {
			out = append(out, t)
		}
	}
	return out
}

func runText(r *instructions.RunCommand) string { return strings.Join(r.CmdLine, " ") }

var goBuild = regexp.MustCompile(`\bgo\s+build\b`)
var goModDownload = regexp.MustCompile(`\bgo\s+mod\s+download\b`)

// buildStages are the stages that run `go build`.
func (d *Dockerfile) buildStages() []Stage {
	var out []Stage
	for _, s := range d.Stages {
		if slices.ContainsFunc(commands[*instructions.RunCommand](s), func(r *instructions.RunCommand) bool {
			return goBuild.MatchString(runText(r))
		}) {
			out = append(out, s)
		}
	}
	return out
}

type dockerfileRule struct {
	Rule
	check func(*Dockerfile) Finding
}

func dockerfileRules() []dockerfileRule {
	df := func(id, title, why, fix string, check func(*Dockerfile) Finding) dockerfileRule {
		return dockerfileRule{Rule{ID: id, Scope: ScopeDockerfile, Title: title, Why: why, Fix: fix}, check}
	}
	return []dockerfileRule{
		df("DF001", "multi-stage build",
			"the compiler, sources and module cache stay in the builder; only the binary ships",
			"build in a named stage, then FROM a runtime base and COPY --from=<stage> the binary",
			checkMultiStage),
		df("DF002", "base images pinned",
			"a moving tag (or none, i.e. latest) changes the image under the same Dockerfile; a digest pins it exactly",
			"give every FROM (and its ARG default) a version tag, or name@sha256:digest",
			checkPinnedBases),
		df("DF003", "builder on $BUILDPLATFORM, cross-compiles to $TARGETARCH",
			"the compiler runs natively and cross-compiles, instead of running under emulation for each target",
			"FROM --platform=$BUILDPLATFORM … AS build, ARG TARGETOS TARGETARCH, GOOS=$TARGETOS GOARCH=$TARGETARCH go build",
			checkBuildPlatform),
		df("DF004", "dependencies before sources",
			"go.mod/go.sum and `go mod download` form a layer that survives source edits, so a rebuild downloads nothing",
			"COPY go.mod go.sum first, RUN go mod download, then COPY the sources",
			checkDepsFirst),
		df("DF005", "cache mounts for module and build caches",
			"BuildKit keeps the module and build caches between builds without putting them in a layer",
			"RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build go build …",
			checkCacheMounts),
		df("DF006", "numeric non-root USER",
			"a number needs no /etc/passwd and lets the runtime (runAsNonRoot) prove the process is not root",
			"USER 65532:65532 in the runtime stage",
			checkUser),
		df("DF007", "exec-form ENTRYPOINT/CMD",
			"the shell form runs /bin/sh -c: a shell must exist, and it (not the binary) gets SIGTERM as PID 1",
			`ENTRYPOINT ["/binary"] (JSON array) in the runtime stage`,
			checkEntrypoint),
		df("DF008", "exec-form HEALTHCHECK",
			"the engine and compose learn when the service is ready without curl or a shell in the image",
			`HEALTHCHECK CMD ["/binary", "healthcheck"]`,
			checkHealthcheck),
		df("DF009", "no ADD from URLs",
			"ADD <url> fetches unverified bytes at build time; the result changes without the Dockerfile changing",
			"download in a builder stage with a checksum, or vendor the file; COPY local files",
			checkAddURL),
		df("DF010", "no secrets in ARG/ENV",
			"ARG and ENV values are stored in the image config and history for anyone who pulls it",
			"pass secrets at run time as files (*_FILE), or at build time with RUN --mount=type=secret",
			checkSecretArgs),
		df("DF011", "static, reproducible Go binary",
			"CGO_ENABLED=0 needs no libc in the runtime image; -trimpath keeps build paths out, so builds are reproducible",
			"ENV CGO_ENABLED=0 and go build -trimpath",
			checkStaticBinary),
		df("DF012", "stripped binary",
			"-ldflags '-s -w' drops the symbol table and DWARF: a smaller image, nothing lost at run time",
			`go build -ldflags "-s -w …"`,
			checkStripped),
		df("DF013", "runtime stage holds only build outputs",
			"sources, module cache or tools copied into the runtime stage ship to every host",
			"in the runtime stage COPY --from=<builder> only the binary; no RUN, no COPY from the context",
			checkRuntimeStage),
		df("DF014", "unprivileged ports, no setcap",
			"a port ≥ 1024 needs no CAP_NET_BIND_SERVICE, so the container runs with no capability at all",
			"listen on a port ≥ 1024 and map it with ports: in compose; remove setcap",
			checkPorts),
	}
}

// CheckDockerfile runs the Dockerfile rules.
func CheckDockerfile(d *Dockerfile) []Result {
	var out []Result
	for _, r := range dockerfileRules() {
		f := r.check(d)
		where := ""
		if f.Line > 0 {
			where = fmt.Sprintf("%s:%d", d.Path, f.Line)
		}
		out = append(out, Result{Rule: r.ID, Scope: r.Scope, Title: r.Title, Status: f.Status, Detail: f.Detail, Why: r.Why, Where: where})
	}
	return out
}

func checkMultiStage(d *Dockerfile) Finding {
	final := d.Final()
	if len(d.Stages) < 2 {
		return fail("single stage: the image carries whatever built it").at(final.Line())
	}
	if final.From >= 0 {
		return fail("the runtime stage builds on stage %q: it inherits that stage's toolchain", d.Stages[final.From].Name).at(final.Line())
	}
	for _, b := range d.buildStages() {
		if b.Index == final.Index {
			return fail("the runtime stage runs go build itself").at(final.Line())
		}
		for _, base := range final.Bases {
			if slices.Contains(b.Bases, base) {
				return fail("the runtime stage uses the builder's base %s", base).at(final.Line())
			}
		}
	}
	copies := commands[*instructions.CopyCommand](final)
	var from []string
	for _, c := range copies {
		if c.From != "" {
			from = append(from, fmt.Sprintf("%s from %s", strings.Join(c.SourcePaths, " "), c.From))
		}
	}
	if len(from) == 0 {
		return fail("the runtime stage copies nothing from a builder stage").at(final.Line())
	}
	return pass("%d stages; runtime FROM %s takes %s", len(d.Stages), strings.Join(final.Bases, " | "), strings.Join(from, ", ")).at(final.Line())
}

// imageRef is a parsed image reference: enough to tell a digest from a tag from nothing.
type imageRef struct {
	Name, Tag, Digest string
}

func parseRef(s string) imageRef {
	var r imageRef
	if name, digest, ok := strings.Cut(s, "@"); ok {
		s, r.Digest = name, digest
	}
	slash := strings.LastIndex(s, "/")
	if colon := strings.LastIndex(s, ":"); colon > slash {
		s, r.Tag = s[:colon], s[colon+1:]
	}
	r.Name = s
	return r
}

// pinning says how a reference is pinned, or why it is not.
func pinning(ref string) (string, bool) {
	if strings.Contains(ref, "$") {
		return "unresolved variable", false
	}
	r := parseRef(ref)
	switch {
	case r.Digest != "":
		if !strings.HasPrefix(r.Digest, "sha256:") || len(r.Digest) != len("sha256:")+64 {
			return "malformed digest " + r.Digest, false
		}
		return "digest", true
	case r.Tag == "":
		return "no tag (means latest)", false
	case r.Tag == "latest":
		return "tag latest", false
	}
	return "tag " + r.Tag, true
}

func checkPinnedBases(d *Dockerfile) Finding {
	var good []string
	for _, s := range d.Stages {
		for _, base := range s.Bases {
			if base == "scratch" {
				continue
			}
			how, ok := pinning(base)
			if !ok {
				return fail("FROM %s: %s", base, how).at(s.Line())
			}
			good = append(good, fmt.Sprintf("%s (%s)", base, how))
		}
	}
	if len(good) == 0 {
		return pass("only scratch")
	}
	return pass("%s", strings.Join(slices.Compact(good), ", "))
}

var buildPlatform = regexp.MustCompile(`^\$(\{BUILDPLATFORM\}|BUILDPLATFORM)$`)

func checkBuildPlatform(d *Dockerfile) Finding {
	builds := d.buildStages()
	if len(builds) == 0 {
		return fail("no stage runs go build").at(d.Final().Line())
	}
	for _, b := range builds {
		if b.Index == d.Final().Index {
			return fail("go build runs in the runtime stage, on the target platform").at(b.Line())
		}
		if !buildPlatform.MatchString(b.Platform) {
			p := b.Platform
			if p == "" {
				p = "none"
			}
			return fail("stage %q: --platform is %s, want $BUILDPLATFORM", b.Name, p).at(b.Line())
		}
		declared := map[string]bool{}
		for _, a := range commands[*instructions.ArgCommand](b) {
			for _, kv := range a.Args {
				declared[kv.Key] = true
			}
		}
		if !declared["TARGETARCH"] {
			return fail("stage %q runs on $BUILDPLATFORM but declares no ARG TARGETARCH: it builds for the build machine", b.Name).at(b.Line())
		}
		for _, r := range commands[*instructions.RunCommand](b) {
			if t := runText(r); goBuild.MatchString(t) && !strings.Contains(t, "TARGETARCH") {
				return fail("go build without GOARCH=$TARGETARCH").at(cmdLine(r))
			}
		}
	}
	return pass("stage %q: --platform=%s, GOARCH from TARGETARCH", builds[0].Name, builds[0].Platform).at(builds[0].Line())
}

func isDepFile(p string) bool {
	switch path.Base(p) {
	case "go.mod", "go.sum", "go.work", "go.work.sum":
		return true
	}
	return false
}

func checkDepsFirst(d *Dockerfile) Finding {
	builds := d.buildStages()
	if len(builds) == 0 {
		return fail("no stage runs go build").at(d.Final().Line())
	}
	s := builds[0]
	mods, download, sources := -1, -1, -1
	srcLine := 0
	for i, c := range s.Commands {
		switch c := c.(type) {
		case *instructions.CopyCommand:
			if c.From != "" {
				continue
			}
			if slices.IndexFunc(c.SourcePaths, func(p string) bool { return !isDepFile(p) }) < 0 {
				if mods < 0 {
					mods = i
				}
			} else if sources < 0 {
				sources, srcLine = i, cmdLine(c)
			}
		case *instructions.AddCommand:
			if sources < 0 {
				sources, srcLine = i, cmdLine(c)
			}
		case *instructions.RunCommand:
			if download < 0 && goModDownload.MatchString(runText(c)) {
				download = i
			}
		}
	}
	switch {
	case mods < 0:
		return fail("go.mod/go.sum are never copied on their own").at(max(srcLine, s.Line()))
	case sources >= 0 && sources < mods:
		return fail("sources are copied before go.mod/go.sum").at(srcLine)
	case download < 0:
		return fail("no `go mod download` after copying go.mod/go.sum").at(cmdLine(s.Commands[mods]))
	case sources >= 0 && sources < download:
		return fail("sources are copied before `go mod download`").at(srcLine)
	}
	return pass("go.mod/go.sum (line %d), go mod download (line %d), then sources (line %d)",
		cmdLine(s.Commands[mods]), cmdLine(s.Commands[download]), srcLine).at(cmdLine(s.Commands[mods]))
}

func cacheTargets(r *instructions.RunCommand) []string {
	var t []string
	for _, m := range instructions.GetMounts(r) {
		if m.Type == instructions.MountTypeCache {
			t = append(t, path.Clean(m.Target))
		}
	}
	return t
}

func checkCacheMounts(d *Dockerfile) Finding {
	n := 0
	for _, s := range d.Stages {
		for _, r := range commands[*instructions.RunCommand](s) {
			t := runText(r)
			build, download := goBuild.MatchString(t), goModDownload.MatchString(t)
			if !build && !download {
				continue
			}
			n++
			targets := cacheTargets(r)
			if !slices.ContainsFunc(targets, func(p string) bool { return p == "/go/pkg/mod" || strings.Contains(p, "GOMODCACHE") }) {
				return fail("RUN without a cache mount for the module cache (/go/pkg/mod)").at(cmdLine(r))
			}
			if build && !slices.ContainsFunc(targets, func(p string) bool { return strings.HasSuffix(p, "/.cache/go-build") || strings.Contains(p, "GOCACHE") }) {
				return fail("go build without a cache mount for the build cache (/root/.cache/go-build)").at(cmdLine(r))
			}
		}
	}
	if n == 0 {
		return fail("no RUN runs go build or go mod download")
	}
	return pass("%d Go RUN steps, each with cache mounts", n)
}

// numericUser parses "uid[:gid]" and says whether both are numbers.
func numericUser(u string) (uid int, ok bool) {
	user, group, hasGroup := strings.Cut(u, ":")
	id, err := strconv.Atoi(user)
	if err != nil || id < 0 {
		return 0, false
	}
	if hasGroup {
		if g, err := strconv.Atoi(group); err != nil || g < 0 {
			return 0, false
		}
	}
	return id, true
}

// userProblem says what is wrong with a container user, or "" if nothing is.
func userProblem(u string) string {
	switch {
	case u == "":
		return "no user set: the container runs as root"
	}
	uid, ok := numericUser(u)
	switch {
	case !ok:
		if name, _, _ := strings.Cut(u, ":"); name == "root" {
			return fmt.Sprintf("user %q is root", u)
		}
		return fmt.Sprintf("user %q is a name: only a number proves non-root without /etc/passwd", u)
	case uid == 0:
		return fmt.Sprintf("user %q is root", u)
	}
	return ""
}

func checkUser(d *Dockerfile) Finding {
	final := d.Final()
	users := commands[*instructions.UserCommand](final)
	if len(users) == 0 {
		return fail("no USER in the runtime stage: it runs as the base image's user").at(final.Line())
	}
	u := users[len(users)-1]
	if p := userProblem(u.User); p != "" {
		return fail("%s", p).at(cmdLine(u))
	}
	return pass("USER %s", u.User).at(cmdLine(u))
}

func checkEntrypoint(d *Dockerfile) Finding {
	final := d.Final()
	for _, c := range commands[*instructions.CmdCommand](final) {
		if c.PrependShell {
			return fail("CMD %s is in shell form", strings.Join(c.CmdLine, " ")).at(cmdLine(c))
		}
	}
	eps := commands[*instructions.EntrypointCommand](final)
	if len(eps) == 0 {
		return fail("no ENTRYPOINT in the runtime stage").at(final.Line())
	}
	e := eps[len(eps)-1]
	if e.PrependShell {
		return fail("ENTRYPOINT %s is in shell form: /bin/sh -c runs it", strings.Join(e.CmdLine, " ")).at(cmdLine(e))
	}
	if len(e.CmdLine) > 0 && isShell(e.CmdLine[0]) {
		return fail("ENTRYPOINT runs a shell: %q", e.CmdLine).at(cmdLine(e))
	}
	return pass("ENTRYPOINT %q", e.CmdLine).at(cmdLine(e))
}

func checkHealthcheck(d *Dockerfile) Finding {
	final := d.Final()
	hcs := commands[*instructions.HealthCheckCommand](final)
	if len(hcs) == 0 {
		return fail("no HEALTHCHECK in the runtime stage").at(final.Line())
	}
	h := hcs[len(hcs)-1]
	test := h.Health.Test
	switch {
	case len(test) == 0 || test[0] == "NONE":
		return fail("HEALTHCHECK NONE").at(cmdLine(h))
	case test[0] == "CMD-SHELL":
		return fail("HEALTHCHECK in shell form needs a shell: %s", strings.Join(test[1:], " ")).at(cmdLine(h))
	case len(test) > 1 && isShell(test[1]):
		return fail("HEALTHCHECK runs a shell: %q", test[1:]).at(cmdLine(h))
	}
	return pass("HEALTHCHECK %q", test[1:]).at(cmdLine(h))
}

var urlSource = regexp.MustCompile(`^(?i)(https?|ftp)://|^git@|\.git(#.*)?$`)

func checkAddURL(d *Dockerfile) Finding {
	n := 0
	for _, s := range d.Stages {
		for _, a := range commands[*instructions.AddCommand](s) {
			n++
			for _, src := range a.SourcePaths {
				if urlSource.MatchString(src) {
					return fail("ADD %s", src).at(cmdLine(a))
				}
			}
		}
	}
	return pass("%d ADD instructions, none from a URL", n)
}

func checkSecretArgs(d *Dockerfile) Finding {
	type arg struct {
		kind, key string
		value     *string
		line      int
	}
	var all []arg
	for _, a := range d.Meta {
		for _, kv := range a.Args {
			all = append(all, arg{"ARG", kv.Key, kv.Value, cmdLine(&a)})
		}
	}
	for _, s := range d.Stages {
		for _, c := range s.Commands {
			switch c := c.(type) {
			case *instructions.ArgCommand:
				for _, kv := range c.Args {
					all = append(all, arg{"ARG", kv.Key, kv.Value, cmdLine(c)})
				}
			case *instructions.EnvCommand:
				for _, kv := range c.Env {
					all = append(all, arg{"ENV", kv.Key, &kv.Value, cmdLine(c)})
				}
			}
		}
	}
	var undeclared *arg
	for _, a := range all {
		if !secretName(a.key) {
			continue
		}
		if a.value != nil && *a.value != "" {
			return fail("%s %s has a value in the Dockerfile", a.kind, a.key).at(a.line)
		}
		if a.kind == "ARG" && undeclared == nil {
			undeclared = &a
		}
	}
	if undeclared != nil {
		return warn("ARG %s: a value passed with --build-arg is recorded in the image history; use RUN --mount=type=secret", undeclared.key).at(undeclared.line)
	}
	return pass("%d ARG/ENV names, none holds a secret", len(all))
}

func checkStaticBinary(d *Dockerfile) Finding {
	builds := d.buildStages()
	if len(builds) == 0 {
		return fail("no stage runs go build").at(d.Final().Line())
	}
	for _, s := range builds {
		cgoOff := false
		for _, e := range commands[*instructions.EnvCommand](s) {
			for _, kv := range e.Env {
				if kv.Key == "CGO_ENABLED" {
					cgoOff = kv.Value == "0"
				}
			}
		}
		for _, r := range commands[*instructions.RunCommand](s) {
			t := runText(r)
			if !goBuild.MatchString(t) {
				continue
			}
			if !cgoOff && !strings.Contains(t, "CGO_ENABLED=0") {
				return fail("go build with cgo possibly on (no CGO_ENABLED=0): the binary may need libc").at(cmdLine(r))
			}
			if !strings.Contains(t, "-trimpath") {
				return fail("go build without -trimpath: build paths end up in the binary").at(cmdLine(r))
			}
		}
	}
	return pass("CGO_ENABLED=0, -trimpath")
}

var ldflags = regexp.MustCompile(`-ldflags[= ]+("[^"]*"|'[^']*'|\S+)`)

func checkStripped(d *Dockerfile) Finding {
	builds := d.buildStages()
	if len(builds) == 0 {
		return fail("no stage runs go build").at(d.Final().Line())
	}
	for _, s := range builds {
		for _, r := range commands[*instructions.RunCommand](s) {
			t := runText(r)
			if !goBuild.MatchString(t) {
				continue
			}
			m := ldflags.FindStringSubmatch(t)
			if m == nil {
				return warn("go build without -ldflags \"-s -w\"").at(cmdLine(r))
			}
			flags := strings.Fields(strings.Trim(m[1], `"'`))
			if !slices.Contains(flags, "-s") || !slices.Contains(flags, "-w") {
				return warn("-ldflags lacks -s -w").at(cmdLine(r))
			}
		}
	}
	return pass("-ldflags \"-s -w\"")
}

var treeSources = regexp.MustCompile(`^/?(src|go|root|usr/local/go|app)?/?$|^/?(src|go|root|usr/local/go)/`)

func checkRuntimeStage(d *Dockerfile) Finding {
	final := d.Final()
	for _, c := range final.Commands {
		switch c := c.(type) {
		case *instructions.RunCommand:
			return fail("RUN in the runtime stage: %s", firstLine(runText(c))).at(cmdLine(c))
		case *instructions.AddCommand:
			return fail("ADD in the runtime stage copies from the build context").at(cmdLine(c))
		case *instructions.CopyCommand:
			if c.From == "" {
				return fail("COPY from the build context in the runtime stage: %s", strings.Join(c.SourcePaths, " ")).at(cmdLine(c))
			}
			for _, p := range c.SourcePaths {
				if treeSources.MatchString(p) && !isBinaryPath(p) {
					return fail("COPY --from=%s %s copies a source or toolchain tree", c.From, p).at(cmdLine(c))
				}
			}
		}
	}
	return pass("only COPY --from of build outputs")
}

// isBinaryPath tells /go/bin/app (a build output) from /go or /src (trees).
func isBinaryPath(p string) bool {
	dir := path.Dir(path.Clean("/" + p))
	return dir == "/go/bin" || dir == "/out" || dir == "/bin" || dir == "/usr/local/bin"
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	if len(s) > 60 {
		s = s[:57] + "…"
	}
	return s
}

var setcap = regexp.MustCompile(`\bsetcap\b`)

func checkPorts(d *Dockerfile) Finding {
	var ports []string
	for _, s := range d.Stages {
		for _, r := range commands[*instructions.RunCommand](s) {
			if setcap.MatchString(runText(r)) {
				return fail("RUN setcap: grants a capability to a file").at(cmdLine(r))
			}
		}
	}
	final := d.Final()
	for _, e := range commands[*instructions.ExposeCommand](final) {
		for _, p := range e.Ports {
			num, _, _ := strings.Cut(p, "/")
			n, err := strconv.Atoi(num)
			if err != nil {
				return fail("EXPOSE %s: not a port number", p).at(cmdLine(e))
			}
			if n < 1024 {
				return fail("EXPOSE %d: a privileged port needs CAP_NET_BIND_SERVICE", n).at(cmdLine(e))
			}
			ports = append(ports, p)
		}
	}
	if len(ports) == 0 {
		return pass("no EXPOSE, no setcap")
	}
	return pass("EXPOSE %s, no setcap", strings.Join(ports, " "))
}
