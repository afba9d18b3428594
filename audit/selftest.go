package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/go-voting-app/voting-app/audit/hardening"
)

// selftestRules are the rules the bad image of testdata/selftest must fail; each is a mistake
// its Dockerfile makes on purpose.
var selftestRules = []string{
	"DF001", "DF006", "DF007", "DF008", "DF010", "DF014",
	"IMG001", "IMG002", "IMG003", "IMG006", "IMG007", "IMG008", "IMG009", "IMG014",
}

// runSelftest builds the deliberately bad image with the real engine and audits it: the self-test
// passes when the audit fails the image on every rule the Dockerfile breaks.
func runSelftest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("audit selftest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c common
	c.register(fs)
	keep := fs.Bool("keep", false, "keep the bad image afterwards")
	tag := fs.String("tag", "voting-app/audit-selftest:bad", "tag of the bad image")
	releaseDir := fs.String("release", "", "also tamper with a released image (out/release) and expect REL004 to reject it")
	cosign := fs.String("cosign", defaultCosign(os.Getenv), "the cosign binary that verifies signatures")
	if err := fs.Parse(args); err != nil {
		return err
	}
	env, err := readEnvFiles(c.root, c.envFiles)
	if err != nil {
		return err
	}
	dir := filepath.Join(c.root, "audit", "testdata", "selftest")
	build := []string{"build", "--tag", *tag, "--file", filepath.Join(dir, "Dockerfile")}
	buildArgs := map[string]string{}
	if v := env["GO_IMAGE"]; v != "" {
		buildArgs["GO_IMAGE"] = v
		build = append(build, "--build-arg", "GO_IMAGE="+v)
	}
	fmt.Fprintf(stdout, "self-test: docker %s\n", strings.Join(append(build, dir), " "))
	if out, err := docker(ctx, c.docker, "", append(build, dir)...); err != nil {
		return fmt.Errorf("building the bad image: %w\n%s", err, out)
	}
	if !*keep {
		defer docker(context.WithoutCancel(ctx), c.docker, "", "image", "rm", *tag)
	}

	src, err := os.ReadFile(filepath.Join(dir, "Dockerfile"))
	if err != nil {
		return err
	}
	df, err := hardening.ParseDockerfile("audit/testdata/selftest/Dockerfile", src, buildArgs)
	if err != nil {
		return err
	}
	img, err := loadImage(ctx, c.docker, *tag)
	if err != nil {
		return err
	}
	rep := hardening.Audit(hardening.Subject{Name: "selftest", Dockerfile: df, Image: img}, hardening.DefaultPolicy())
	if err := hardening.WriteText(stdout, []hardening.Report{rep}); err != nil {
		return err
	}
	failed := rep.FailedRules()
	var missed []string
	for _, id := range selftestRules {
		if !slices.Contains(failed, id) {
			missed = append(missed, id)
		}
	}
	if len(missed) > 0 {
		return fmt.Errorf("self-test FAILED: the audit passed the bad image %s on %s", *tag, strings.Join(missed, ", "))
	}
	fmt.Fprintf(stdout, "self-test: PASS — the audit rejected the bad image %s (non-zero exit) on %d rules, including all %d expected: %s\n",
		*tag, len(failed), len(selftestRules), strings.Join(selftestRules, " "))
	if *releaseDir == "" {
		return nil
	}
	rec, err := readReleaseRecord(filepath.Join(c.root, *releaseDir))
	if err != nil {
		return err
	}
	if err := tamperSelftest(ctx, rec, "vote", *cosign, stdout); err != nil {
		return fmt.Errorf("self-test FAILED on the release: %w", err)
	}
	fmt.Fprintf(stdout, "self-test: PASS — a released image changed by one byte is rejected, unsigned or with the old signature\n")
	return nil
}
