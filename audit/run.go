package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/go-voting-app/voting-app/audit/hardening"
)

// errFailed is returned when the audit found failures: the report says which, so main only sets
// the exit code.
var errFailed = errors.New("hardening rules failed")

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cmd, rest := "check", args[1:]
	if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		cmd, rest = rest[0], rest[1:]
	}
	switch cmd {
	case "check":
		return runCheck(ctx, rest, stdout, stderr)
	case "selftest":
		return runSelftest(ctx, rest, stdout, stderr)
	case "sizes":
		return runSizes(ctx, rest, stdout, stderr)
	case "ladder":
		return runLadder(ctx, rest, stdout, stderr)
	case "docs":
		return runDocs(rest, stdout, stderr)
	case "rules":
		return writeCatalogue(stdout)
	case "standin":
		return runStandin(ctx, rest, stdout, stderr)
	case "repro":
		return runRepro(ctx, rest, stdout, stderr)
	case "emulate":
		return runEmulate(ctx, rest, stdout, stderr)
	}
	return fmt.Errorf("unknown command %q (check, selftest, sizes, ladder, docs, rules, standin, repro, emulate)", cmd)
}

// common are the flags every command that reads the project takes.
type common struct {
	root     string
	compose  string
	envFiles stringList
	profile  string
	docker   string
}

func (c *common) register(fs *flag.FlagSet) {
	fs.StringVar(&c.root, "root", ".", "repository root")
	fs.StringVar(&c.compose, "compose-file", "docker-compose.yml", "compose file, relative to -root")
	fs.Var(&c.envFiles, "env-file", "compose --env-file, relative to -root (repeatable; e.g. deploy/compose/offline.env)")
	fs.StringVar(&c.profile, "profile", "*", "compose profiles to include (* for all)")
	fs.StringVar(&c.docker, "docker", "docker", "the docker CLI")
}

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

type sizeFlag int64

func (s *sizeFlag) String() string { return fmt.Sprintf("%dMiB", int64(*s)/hardening.MiB) }
func (s *sizeFlag) Set(v string) error {
	var n int64
	if _, err := fmt.Sscanf(strings.TrimSuffix(strings.TrimSuffix(v, "MiB"), "M"), "%d", &n); err != nil || n <= 0 {
		return fmt.Errorf("want a size in MiB, e.g. 12 or 12MiB")
	}
	*s = sizeFlag(n * hardening.MiB)
	return nil
}

func runCheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("audit check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c common
	c.register(fs)
	policy := hardening.DefaultPolicy()
	target, ceiling := sizeFlag(policy.TargetSize), sizeFlag(policy.MaxSize)
	fs.Var(&target, "target-size", "image size goal in MiB: IMG009 warns above it")
	fs.Var(&ceiling, "max-size", "image size ceiling in MiB: IMG009 fails above it")
	fs.IntVar(&policy.MaxLayers, "max-layers", policy.MaxLayers, "most layers an image may have (IMG010)")
	asJSON := fs.Bool("json", false, "write JSON (for CI) instead of tables")
	format := fs.String("format", "text", "table format: text or md")
	only := fs.String("services", "", "comma-separated services to audit (default: all)")
	pull := fs.Bool("pull", false, "pull a missing image of a service that is not built here (needs a registry)")
	releaseDir := fs.String("release", "", "the release record deploy/release/build.sh wrote (e.g. out/release): check each released image in the registry (REL rules)")
	cosign := fs.String("cosign", defaultCosign(os.Getenv), "the cosign binary that verifies signatures")
	if err := fs.Parse(args); err != nil {
		return err
	}
	policy.TargetSize, policy.MaxSize = int64(target), int64(ceiling)

	p, err := loadProject(ctx, c)
	if err != nil {
		return err
	}
	p.pull = *pull
	var rec *releaseRecord
	var recErr error
	if *releaseDir != "" {
		rec, recErr = readReleaseRecord(filepath.Join(c.root, *releaseDir))
	}
	// DF015: the released services' Dockerfiles against each other.
	siblings := map[string][2]string{}
	for _, name := range policy.Released {
		svc := p.compose.Services[name]
		if svc == nil || svc.Build == nil {
			continue
		}
		path := p.dockerfilePath(svc)
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		siblings[name] = [2]string{p.relative(path), string(src)}
	}
	siblingResults := hardening.CheckSiblingDockerfiles(siblings)
	var reps []hardening.Report
	for _, name := range p.order {
		if *only != "" && !slices.Contains(strings.Split(*only, ","), name) {
			continue
		}
		s, err := p.subject(ctx, name)
		if err != nil {
			return err
		}
		if *releaseDir != "" && slices.Contains(policy.Released, name) {
			switch ref := ""; {
			case recErr != nil:
				s.ReleaseErr = recErr
			case rec.images[name] == "":
				s.ReleaseErr = fmt.Errorf("the release in %s has no %s image", *releaseDir, name)
			default:
				ref = rec.images[name]
				s.Release, s.ReleaseErr = readRelease(ctx, rec, ref, *cosign)
			}
		}
		rep := hardening.Audit(s, policy)
		if r, ok := siblingResults[name]; ok {
			rep.Results = append(rep.Results, r)
		}
		reps = append(reps, rep)
	}
	switch {
	case *asJSON:
		err = hardening.WriteJSON(stdout, reps, policy)
	case *format == "md":
		err = hardening.WriteMarkdown(stdout, reps)
	default:
		err = hardening.WriteText(stdout, reps)
	}
	if err != nil {
		return err
	}
	for _, r := range reps {
		if r.Failed() {
			return errFailed
		}
	}
	return nil
}

// project is the compose project and the files it points at.
type project struct {
	common
	compose *hardening.Project
	file    *hardening.ComposeFile
	order   []string
	pull    bool
}

func loadProject(ctx context.Context, c common) (*project, error) {
	out, err := composeConfig(ctx, c)
	if err != nil {
		return nil, err
	}
	cp, err := hardening.ParseProject(out)
	if err != nil {
		return nil, err
	}
	src, err := os.ReadFile(filepath.Join(c.root, c.compose))
	if err != nil {
		return nil, err
	}
	cf, err := hardening.ParseComposeFile(c.compose, src)
	if err != nil {
		return nil, err
	}
	p := &project{common: c, compose: cp, file: cf}
	// The file's order (services first as written), then any the file does not name directly.
	for _, n := range cf.Services() {
		if cp.Services[n] != nil {
			p.order = append(p.order, n)
		}
	}
	for _, n := range cp.ServiceNames() {
		if !slices.Contains(p.order, n) {
			p.order = append(p.order, n)
		}
	}
	return p, nil
}

// subject gathers what the audit reads for one service: its Dockerfile (when built here) and its
// image (from the engine).
func (p *project) subject(ctx context.Context, name string) (hardening.Subject, error) {
	svc := p.compose.Services[name]
	s := hardening.Subject{Name: name, Service: svc, Compose: p.file}
	if svc.Build != nil {
		df, err := p.dockerfile(svc)
		if err != nil {
			return s, err
		}
		s.Dockerfile = df
	}
	img, err := loadImage(ctx, p.docker, svc.Image)
	// A digest names exactly one image, so pulling it is safe whoever built it (a release).
	if err != nil && (p.pull && svc.Build == nil || strings.Contains(svc.Image, "@sha256:")) {
		if _, perr := docker(ctx, p.docker, "", "image", "pull", "--quiet", svc.Image); perr == nil {
			img, err = loadImage(ctx, p.docker, svc.Image)
		}
	}
	if err != nil {
		s.ImageErr = err
	} else {
		s.Image = img
	}
	return s, nil
}

func (p *project) dockerfilePath(svc *hardening.Service) string {
	dfPath := svc.Build.Dockerfile
	if dfPath == "" {
		dfPath = "Dockerfile"
	}
	if !filepath.IsAbs(dfPath) {
		dfPath = filepath.Join(svc.Build.Context, dfPath)
	}
	return dfPath
}

func (p *project) dockerfile(svc *hardening.Service) (*hardening.Dockerfile, error) {
	dfPath := p.dockerfilePath(svc)
	src, err := os.ReadFile(dfPath)
	if err != nil {
		return nil, fmt.Errorf("service %s: %w", svc.Name, err)
	}
	return hardening.ParseDockerfile(p.relative(dfPath), src, svc.Build.Args)
}

// relative shows a path relative to the repository root when it is inside it.
func (p *project) relative(path string) string {
	root, err := filepath.Abs(p.root)
	if err != nil {
		return path
	}
	if rel, err := filepath.Rel(root, path); err == nil && !strings.HasPrefix(rel, "..") {
		return rel
	}
	return path
}

func writeCatalogue(w io.Writer) error {
	fmt.Fprintln(w, "| rule | checks | why it matters | how to fix |")
	fmt.Fprintln(w, "| --- | --- | --- | --- |")
	for _, r := range hardening.Catalogue() {
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", r.ID, r.Title, r.Why, strings.ReplaceAll(r.Fix, "|", `\|`))
	}
	return nil
}
