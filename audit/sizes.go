package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/go-voting-app/voting-app/audit/chart"
	"github.com/go-voting-app/voting-app/audit/hardening"
)

// imageSize is what `audit sizes` and `audit ladder` measure of one image.
type imageSize struct {
	Name, Ref string
	// Base is the runtime base the image was built on; StandIn when it is a local voting-offline/*
	// image standing in for the upstream one.
	Base    string
	StandIn bool
	// Bytes is the sum of the layers' file sizes (what docker image ls shows); Engine is the
	// engine's own figure (docker image inspect .Size) for comparison.
	Bytes, Engine int64
	// Compressed is the sum of the layers gzip-compressed at the default level: about what a
	// registry stores and a host pulls.
	Compressed int64
	Binary     int64
	Layers     int
	Image      *hardening.Image
	// Floor is the size of the smallest program that links the libraries the service must link
	// (audit/floor), built like the image's binary; 0 when the service has none.
	Floor    int64
	FloorSet string
}

// floorTarget is how far above base + floor an image may be: the service's own code and the
// parts of its libraries it uses beyond the floor program's.
const floorTarget = 1.05

// overFloor is the image's size over the runtime base plus the floor program.
func (s imageSize) overFloor() float64 {
	return float64(s.Bytes) / float64(s.Bytes-s.Binary+s.Floor)
}

func (s imageSize) floorCell() string {
	if s.Floor == 0 {
		return "—"
	}
	verdict := "meets"
	if s.overFloor() > floorTarget {
		verdict = "over"
	}
	return fmt.Sprintf("%s + %s = %s; %.3f× (%s)", mib(s.Bytes-s.Binary), mib(s.Floor), mib(s.Bytes-s.Binary+s.Floor), s.overFloor(), verdict)
}

func (s imageSize) baseName() string {
	switch {
	case s.Base == "":
		return "—"
	case s.StandIn:
		return s.Base + " (stand-in)"
	}
	return s.Base
}

// measure reads ref from the engine and measures it.
func measure(ctx context.Context, bin, name, ref string) (imageSize, error) {
	img, done, err := savedImage(ctx, bin, ref)
	if err != nil {
		return imageSize{}, err
	}
	defer done()
	im, err := hardening.LoadImage(ref, img)
	if err != nil {
		return imageSize{}, err
	}
	s := imageSize{Name: name, Ref: ref, Bytes: im.Size(), Layers: len(im.Layers), Image: im}
	if s.Compressed, err = compressedSize(img); err != nil {
		return imageSize{}, err
	}
	if f := im.EntrypointFile(); f != nil {
		s.Binary = f.Size
	}
	s.Base = im.Config.Labels["org.opencontainers.image.base.name"]
	s.StandIn = strings.HasPrefix(s.Base, "voting-offline/")
	out, err := docker(ctx, bin, "", "image", "inspect", "--format", "{{.Size}}", ref)
	if err != nil {
		return imageSize{}, err
	}
	if s.Engine, err = strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64); err != nil {
		return imageSize{}, fmt.Errorf("image %s: size %q: %w", ref, out, err)
	}
	return s, nil
}

type byteCounter int64

func (c *byteCounter) Write(p []byte) (int, error) { *c += byteCounter(len(p)); return len(p), nil }

func compressedSize(img v1.Image) (int64, error) {
	layers, err := img.Layers()
	if err != nil {
		return 0, err
	}
	var total int64
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			return 0, err
		}
		var n byteCounter
		zw, _ := gzip.NewWriterLevel(&n, gzip.DefaultCompression)
		_, err = io.Copy(zw, rc)
		rc.Close()
		if err == nil {
			err = zw.Close()
		}
		if err != nil {
			return 0, err
		}
		total += int64(n)
	}
	return total, nil
}

func mib(n int64) string { return fmt.Sprintf("%.2f MiB", float64(n)/hardening.MiB) }

func runSizes(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("audit sizes", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c common
	c.register(fs)
	md := fs.String("md", "docs/sizes.md", "Markdown report, relative to -root (empty: none)")
	svg := fs.String("svg", "docs/sizes.svg", "SVG chart, relative to -root (empty: none)")
	target := sizeFlag(hardening.DefaultPolicy().TargetSize)
	fs.Var(&target, "target-size", "the size goal per image, in MiB")
	if err := fs.Parse(args); err != nil {
		return err
	}
	p, err := loadProject(ctx, c)
	if err != nil {
		return err
	}
	var sizes []imageSize
	floorSizes := map[string]int64{}
	for _, name := range p.order {
		svc := p.compose.Services[name]
		if svc.Build == nil {
			continue
		}
		s, err := measure(ctx, c.docker, name, svc.Image)
		if err != nil {
			return err
		}
		if set, ok := floors[name]; ok {
			if floorSizes[set] == 0 {
				fmt.Fprintf(stdout, "building the floor program audit/floor/%s in %s's module\n", set, name)
				if floorSizes[set], err = buildFloor(ctx, c.root, name, set); err != nil {
					return err
				}
			}
			s.Floor, s.FloorSet = floorSizes[set], set
		}
		sizes = append(sizes, s)
	}
	engine, _ := docker(ctx, c.docker, "", "version", "--format", "{{.Server.Version}}")

	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "SERVICE\tUNCOMPRESSED\tCOMPRESSED\tGO BINARY\tLAYERS\tTARGET\tBASE + FLOOR\tBASE\t")
	for _, s := range sizes {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t\n", s.Name, mib(s.Bytes), mib(s.Compressed), mib(s.Binary), s.Layers, meets(s.Bytes, int64(target)), s.floorCell(), s.baseName())
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(stdout, targetSentence(sizes, int64(target)))

	if *md != "" {
		var b bytes.Buffer
		writeSizesMarkdown(&b, sizes, int64(target), strings.TrimSpace(string(engine)), *svg)
		if err := writeGenerated(ctx, c.root, *md, b.Bytes(), stdout); err != nil {
			return err
		}
	}
	if *svg != "" {
		ch := chart.Chart{
			Title:       "Service images, uncompressed",
			Subtitle:    "runtime base and Go binary; the dashed line is the per-image target",
			Unit:        "MiB",
			Series:      []chart.Series{{Name: "runtime base and other layers", Color: "#95a5a6"}, {Name: "Go binary", Color: "#2980b9"}},
			Target:      float64(target) / hardening.MiB,
			TargetLabel: fmt.Sprintf("target %s", hardening.MiBs(int64(target))),
		}
		for _, s := range sizes {
			ch.Bars = append(ch.Bars, chart.Bar{
				Label:  s.Name,
				Values: []float64{round1(float64(s.Bytes-s.Binary) / hardening.MiB), round1(float64(s.Binary) / hardening.MiB)},
				Note:   meets(s.Bytes, int64(target)),
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

func round1(v float64) float64 { return float64(int64(v*10+0.5)) / 10 }

func meets(n, target int64) string {
	if n <= target {
		return "meets"
	}
	return fmt.Sprintf("over by %s", hardening.MiBs(n-target))
}

func targetSentence(sizes []imageSize, target int64) string {
	var in, over []string
	for _, s := range sizes {
		if s.Bytes <= target {
			in = append(in, s.Name)
		} else {
			over = append(over, fmt.Sprintf("%s (%s)", s.Name, hardening.MiBs(s.Bytes)))
		}
	}
	none := func(l []string) string {
		if len(l) == 0 {
			return "none"
		}
		return strings.Join(l, ", ")
	}
	return fmt.Sprintf("Target ≤ %s uncompressed per image. Meet it: %s. Over it: %s.", hardening.MiBs(target), none(in), none(over))
}

func writeSizesMarkdown(w io.Writer, sizes []imageSize, target int64, engine, svg string) {
	fmt.Fprintf(w, "# Image sizes\n\n")
	fmt.Fprintf(w, "Generated by `make sizes` (`audit sizes`) from the images `make images` built; do not edit by hand.\n")
	fmt.Fprintf(w, "Docker Engine %s. Revision: %s.\n\n", engine, revisionOf(sizes))
	fmt.Fprintln(w, "| service | uncompressed | compressed (gzip) | Go binary | layers | base | target ≤ "+hardening.MiBs(target)+" | base + floor program | over the floor (target ≤ 1.05×) |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | --- | --- | ---: | --- |")
	for _, s := range sizes {
		fl, ratio := "—", "—"
		if s.Floor > 0 {
			fl = fmt.Sprintf("%s + %s (`audit/floor/%s`) = %s", mib(s.Bytes-s.Binary), mib(s.Floor), s.FloorSet, mib(s.Bytes-s.Binary+s.Floor))
			ratio = fmt.Sprintf("%.3f×", s.overFloor())
			if s.overFloor() > floorTarget {
				ratio += fmt.Sprintf(" (over by %s)", hardening.MiBs(s.Bytes-int64(floorTarget*float64(s.Bytes-s.Binary+s.Floor))))
			} else {
				ratio += " (meets)"
			}
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %d | `%s`%s | %s | %s | %s |\n", s.Name, mib(s.Bytes), mib(s.Compressed), mib(s.Binary), s.Layers,
			s.Base, standInNote(s), meets(s.Bytes, target), fl, ratio)
	}
	fmt.Fprintf(w, "\n%s\n", targetSentence(sizes, target))
	if svg != "" {
		fmt.Fprintf(w, "\n![sizes](%s)\n", filepath.Base(svg))
	}
	fmt.Fprintf(w, `
How each column is measured (go-containerregistry on `+"`docker image save`"+` output):

- **uncompressed**: the sum of the sizes of the regular files in every layer — what `+"`docker image ls`"+`
  reports (the engine's own figure for each: %s).
- **compressed**: every layer gzip-compressed at Go's default level, summed — about what a registry
  stores and a host downloads.
- **Go binary**: the size of the file the entrypoint runs.
- **base**: the image's `+"`org.opencontainers.image.base.name`"+` label. "stand-in" marks a local
  `+"`voting-offline/*`"+` image built by deploy/offline/bases.sh in place of the upstream image (the
  distroless stand-in is about 2.0 MiB, the same entries as upstream distroless static, so the
  totals carry over, but they were not measured against the upstream image here).

- **base + floor program**: the runtime base (everything in the image but the binary) plus the
  smallest main that links the libraries the service must link, each used once:
  `+"`audit/floor/redis`"+` (go-redis, client_golang, net/http) for vote, `+"`audit/floor/pgx`"+` (a pgx pool,
  client_golang) for result and analyzer, `+"`audit/floor/pgx-redis`"+` for the worker. `+"`make sizes`"+`
  builds them in the same run inside a copy of the service's own go.mod and go.sum, with the images'
  flags (`+"`CGO_ENABLED=0 -trimpath -tags nethttpomithttp2 -ldflags \"-s -w\"`"+`), so they link the same
  versions. The ratio is the image over that sum: what the service's own code and the parts of its
  libraries it uses beyond the floor add.

The binary is most of every image, and the libraries every service must link are most of the
binary. These are the sizes measured at the revision above, not a promise.
`, engineSizes(sizes))
}

func standInNote(s imageSize) string {
	if s.StandIn {
		return " (stand-in)"
	}
	return ""
}

func engineSizes(sizes []imageSize) string {
	var parts []string
	for _, s := range sizes {
		parts = append(parts, fmt.Sprintf("%s %s", s.Name, mib(s.Engine)))
	}
	return strings.Join(parts, ", ")
}

func revisionOf(sizes []imageSize) string {
	for _, s := range sizes {
		if r := s.Image.Config.Labels["org.opencontainers.image.revision"]; r != "" {
			return "`" + r + "` (" + s.Image.Config.Labels["org.opencontainers.image.version"] + ")"
		}
	}
	return "unknown"
}

func writeFile(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}
