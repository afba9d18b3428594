package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/go-voting-app/voting-app/audit/chart"
	"github.com/go-voting-app/voting-app/audit/hardening"
)

// rung is one variant of the vote image on the size ladder.
type rung struct {
	step, dockerfile, title, buys string
}

func ladder() []rung {
	return []rung{
		{"1-naive", "deploy/size-ladder/1-naive.Dockerfile", "one stage on the Go image, root",
			"nothing: toolchain, module and build caches, shell and apt all ship"},
		{"2-debian", "deploy/size-ladder/2-debian.Dockerfile", "multi-stage, Debian slim runtime",
			"the toolchain stays in the builder; a static, stripped binary; non-root"},
		{"3-distroless", "vote/Dockerfile", "multi-stage, distroless static (the project's image)",
			"no shell, no package manager, no setuid files; keeps CA bundle, tzdata, passwd"},
		{"4-scratch", "deploy/size-ladder/4-scratch.Dockerfile", "multi-stage, scratch",
			"the last 2.0 MiB, at the price of CA bundle, tzdata, passwd and /tmp"},
	}
}

type rungResult struct {
	rung
	size   imageSize
	report hardening.Report
}

// runLadder builds the vote image in each variant of the size ladder, measures and audits each.
func runLadder(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("audit ladder", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c common
	c.register(fs)
	md := fs.String("md", "docs/size-ladder.md", "Markdown report, relative to -root (empty: none)")
	svg := fs.String("svg", "docs/size-ladder.svg", "SVG chart, relative to -root (empty: none)")
	keep := fs.Bool("keep", false, "keep the variant images (voting-app/size-ladder:<step>)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	env, err := readEnvFiles(c.root, c.envFiles)
	if err != nil {
		return err
	}
	// The image arguments come from the env files (the offline bases), the stamps from the
	// environment make exports, as for the service images.
	buildArgs := map[string]string{}
	for _, k := range []string{"GO_IMAGE", "RUNTIME_IMAGE", "DEBIAN_IMAGE"} {
		if v := env[k]; v != "" {
			buildArgs[k] = v
		}
	}
	for _, k := range []string{"VERSION", "REVISION", "CREATED"} {
		if v := os.Getenv(k); v != "" {
			buildArgs[k] = v
		}
	}
	policy := hardening.DefaultPolicy()
	var results []rungResult
	for _, r := range ladder() {
		tag := "voting-app/size-ladder:" + r.step
		build := []string{"build", "--tag", tag, "--file", filepath.Join(c.root, r.dockerfile)}
		for _, k := range sortedKeys(buildArgs) {
			build = append(build, "--build-arg", k+"="+buildArgs[k])
		}
		fmt.Fprintf(stdout, "building %s from %s\n", tag, r.dockerfile)
		if out, err := docker(ctx, c.docker, "", append(build, c.root)...); err != nil {
			return fmt.Errorf("building %s: %w\n%s", tag, err, out)
		}
		if !*keep {
			defer docker(context.WithoutCancel(ctx), c.docker, "", "image", "rm", tag)
		}
		size, err := measure(ctx, c.docker, r.step, tag)
		if err != nil {
			return err
		}
		src, err := os.ReadFile(filepath.Join(c.root, r.dockerfile))
		if err != nil {
			return err
		}
		df, err := hardening.ParseDockerfile(r.dockerfile, src, buildArgs)
		if err != nil {
			return err
		}
		// The Dockerfile says what the runtime is built on; a base.name label can be inherited.
		if len(df.Final().Bases) > 0 {
			bases := df.Final().Bases
			size.Base = bases[len(bases)-1]
			size.StandIn = strings.HasPrefix(size.Base, "voting-offline/")
		}
		rep := hardening.Audit(hardening.Subject{Name: r.step, Dockerfile: df, Image: size.Image}, policy)
		results = append(results, rungResult{rung: r, size: size, report: rep})
	}

	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STEP\tUNCOMPRESSED\tCOMPRESSED\tLAYERS\tAUDIT\tFAILING RULES\tBASE")
	for _, r := range results {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\n", r.step, mib(r.size.Bytes), mib(r.size.Compressed), r.size.Layers,
			auditCell(r.report), strings.Join(r.report.FailedRules(), " "), r.size.baseName())
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if *md != "" {
		var b bytes.Buffer
		writeLadderMarkdown(&b, results, *svg)
		if err := writeGenerated(ctx, c.root, *md, b.Bytes(), stdout); err != nil {
			return err
		}
	}
	if *svg != "" {
		ch := chart.Chart{
			Title:       "The vote image, step by step (uncompressed)",
			Subtitle:    "each bar: the image's size; the note: rules of `make audit` it fails",
			Unit:        "MiB",
			Series:      []chart.Series{{Name: "everything but the binary", Color: "#95a5a6"}, {Name: "Go binary", Color: "#2980b9"}},
			Target:      float64(policy.TargetSize) / hardening.MiB,
			TargetLabel: "target " + hardening.MiBs(policy.TargetSize),
		}
		for _, r := range results {
			ch.Bars = append(ch.Bars, chart.Bar{
				Label:  r.step,
				Values: []float64{round1(float64(r.size.Bytes-r.size.Binary) / hardening.MiB), round1(float64(r.size.Binary) / hardening.MiB)},
				Note:   plural(len(r.report.FailedRules()), "failing rule"),
			})
		}
		var b bytes.Buffer
		if err := ch.WriteSVG(&b); err != nil {
			return err
		}
		if err := writeGenerated(ctx, c.root, *svg, b.Bytes(), stdout); err != nil {
			return err
		}
	}
	return nil
}

func auditCell(r hardening.Report) string {
	c := r.Counts()
	return fmt.Sprintf("%d pass, %d warn, %d fail", c[hardening.Pass], c[hardening.Warn], c[hardening.Fail])
}

func sortedKeys(m map[string]string) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func writeLadderMarkdown(w io.Writer, results []rungResult, svg string) {
	fmt.Fprintf(w, "# Size ladder: the vote image, step by step\n\n")
	fmt.Fprintf(w, "Generated by `make size-ladder` (`audit ladder`), which builds each variant, measures it and runs the\n")
	fmt.Fprintf(w, "Dockerfile and image rules of `make audit` on it (compose rules do not apply to a lone image); do not\n")
	fmt.Fprintf(w, "edit by hand. The variants are in deploy/size-ladder/; step 3 is the project's own vote/Dockerfile.\n")
	var sizes []imageSize
	for _, r := range results {
		sizes = append(sizes, r.size)
	}
	fmt.Fprintf(w, "Revision: %s.\n", revisionOf(sizes))
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| step | Dockerfile | uncompressed | compressed (gzip) | Go binary | layers | base | audit | failing rules | what the step buys |")
	fmt.Fprintln(w, "| --- | --- | ---: | ---: | ---: | ---: | --- | --- | --- | --- |")
	for _, r := range results {
		fmt.Fprintf(w, "| %s: %s | `%s` | %s | %s | %s | %d | `%s`%s | %s | %s | %s |\n", r.step, r.title, r.dockerfile,
			mib(r.size.Bytes), mib(r.size.Compressed), mib(r.size.Binary), r.size.Layers, r.size.Base, standInNote(r.size),
			auditCell(r.report), strings.Join(r.report.FailedRules(), " "), r.buys)
	}
	if svg != "" {
		fmt.Fprintf(w, "\n![size ladder](%s)\n", filepath.Base(svg))
	}
	if len(results) >= 2 {
		first, last := results[0].size, results[len(results)-1].size
		fmt.Fprintf(w, "\nFrom step 1 to step %d: %s → %s uncompressed (%.0f× smaller), %s → %s to download.\n",
			len(results), mib(first.Bytes), mib(last.Bytes), float64(first.Bytes)/float64(max(last.Bytes, 1)), mib(first.Compressed), mib(last.Compressed))
	}
	fmt.Fprintf(w, "\n## What each step fails\n")
	for _, r := range results {
		fmt.Fprintf(w, "\n**%s** (%s):", r.step, auditCell(r.report))
		var lines []string
		for _, res := range r.report.Results {
			if res.Status == hardening.Fail || res.Status == hardening.Warn {
				lines = append(lines, fmt.Sprintf("- %s %s — %s: %s", res.Rule, res.Status, res.Title, res.Detail))
			}
		}
		if len(lines) == 0 {
			fmt.Fprintf(w, " nothing.\n")
			continue
		}
		fmt.Fprintf(w, "\n\n%s\n", strings.Join(lines, "\n"))
	}
	fmt.Fprintf(w, `
Step 2's Debian runtime passes the Dockerfile rules but fails the image rules for what Debian
brings along (shell, apt/dpkg, setuid programs). Step 4 (scratch) fails IMG011 and IMG012 and
warns on IMG013: no CA bundle, no time zone data, no passwd entry for uid 65532 — the reasons the
project uses distroless static (step 3) instead. Where a base is marked stand-in, the image was
built on a local voting-offline/* image (deploy/offline/bases.sh) in place of the upstream one.
`)
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
