package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// indexDigests is what repro compares of one released index: per platform the image manifest,
// its config and its layers, and the SBOM attached to it.
type indexDigests struct {
	Index     string
	Platforms map[string]imageDigests
}

type imageDigests struct {
	Manifest, Config string
	Layers           []string
	// SBOM is the digest of the SPDX statement's layer in the attestation manifest.
	SBOM string
}

// openIndex opens a released index: from the registry, or from an OCI layout for a reference
// "oci:<dir>@<digest>" (the reproducibility check's second build).
func openIndex(ctx context.Context, ref string) (v1.ImageIndex, error) {
	if dir, ok := strings.CutPrefix(ref, "oci:"); ok {
		dir, digest, _ := strings.Cut(dir, "@")
		h, err := v1.NewHash(digest)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", ref, err)
		}
		lp, err := layout.ImageIndexFromPath(dir)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", ref, err)
		}
		return lp.ImageIndex(h)
	}
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		return nil, err
	}
	idx, err := remote.Index(r, remote.WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ref, err)
	}
	return idx, nil
}

func readIndexDigests(ctx context.Context, ref string) (indexDigests, error) {
	idx, err := openIndex(ctx, ref)
	if err != nil {
		return indexDigests{}, err
	}
	d, err := idx.Digest()
	if err != nil {
		return indexDigests{}, err
	}
	man, err := idx.IndexManifest()
	if err != nil {
		return indexDigests{}, err
	}
	out := indexDigests{Index: d.String(), Platforms: map[string]imageDigests{}}
	sboms := map[string]string{}
	for _, m := range man.Manifests {
		if m.Annotations[refType] != "attestation-manifest" {
			continue
		}
		img, err := idx.Image(m.Digest)
		if err != nil {
			return out, err
		}
		am, err := img.Manifest()
		if err != nil {
			return out, err
		}
		for _, l := range am.Layers {
			if strings.HasPrefix(l.Annotations["in-toto.io/predicate-type"], "https://spdx.dev/") {
				sboms[m.Annotations[refDigest]] = l.Digest.String()
			}
		}
	}
	for _, m := range man.Manifests {
		if m.Platform == nil || m.Annotations[refType] != "" {
			continue
		}
		img, err := idx.Image(m.Digest)
		if err != nil {
			return out, err
		}
		im, err := img.Manifest()
		if err != nil {
			return out, err
		}
		id := imageDigests{Manifest: m.Digest.String(), Config: im.Config.Digest.String(), SBOM: sboms[m.Digest.String()]}
		for _, l := range im.Layers {
			id.Layers = append(id.Layers, l.Digest.String())
		}
		out.Platforms[platformString(m.Platform)] = id
	}
	return out, nil
}

// compareIndexes lists what differs between two builds of one image index, platform by platform.
// The index digest itself is not compared: the provenance attached to it records when and by
// which invocation each build ran.
func compareIndexes(a, b indexDigests) []string {
	var diffs []string
	var plats []string
	for p := range a.Platforms {
		plats = append(plats, p)
	}
	for p := range b.Platforms {
		if _, ok := a.Platforms[p]; !ok {
			plats = append(plats, p)
		}
	}
	slices.Sort(plats)
	for _, p := range plats {
		x, okA := a.Platforms[p]
		y, okB := b.Platforms[p]
		switch {
		case !okA || !okB:
			diffs = append(diffs, fmt.Sprintf("%s: in one build only", p))
		case x.Manifest != y.Manifest:
			d := fmt.Sprintf("%s: manifest %s != %s", p, short(x.Manifest), short(y.Manifest))
			if x.Config != y.Config {
				d += fmt.Sprintf(", config %s != %s", short(x.Config), short(y.Config))
			}
			for i := range max(len(x.Layers), len(y.Layers)) {
				if i >= len(x.Layers) || i >= len(y.Layers) || x.Layers[i] != y.Layers[i] {
					d += fmt.Sprintf(", layer %d differs", i)
				}
			}
			diffs = append(diffs, d)
		case x.SBOM != y.SBOM:
			diffs = append(diffs, fmt.Sprintf("%s: SBOM %s != %s", p, short(x.SBOM), short(y.SBOM)))
		}
	}
	return diffs
}

func short(d string) string {
	if i := strings.IndexByte(d, ':'); i >= 0 && len(d) > i+13 {
		return d[i+1 : i+13]
	}
	return d
}

// runRepro compares two releases of one commit (deploy/release/repro.sh makes the second on a
// builder with empty caches): every platform's image manifest, config and layers, and its SBOM,
// must have the same digest.
func runRepro(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("audit repro", flag.ContinueOnError)
	fs.SetOutput(stderr)
	root := fs.String("root", ".", "repository root")
	first := fs.String("a", "out/release", "the first build's record, relative to -root")
	second := fs.String("b", "out/release/repro", "the second build's record, relative to -root")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ra, err := readReleaseRecord(filepath.Join(*root, *first))
	if err != nil {
		return err
	}
	rb, err := readReleaseRecord(filepath.Join(*root, *second))
	if err != nil {
		return err
	}
	if ra.revision != rb.revision {
		return fmt.Errorf("the builds are of different commits: %s and %s", ra.revision, rb.revision)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tPLATFORM\tMANIFEST\tCONFIG\tLAYERS\tSBOM\tSAME")
	var failed []string
	for _, svc := range slices.Sorted(maps.Keys(ra.images)) {
		if rb.images[svc] == "" {
			failed = append(failed, svc+": not in the second build")
			continue
		}
		a, err := readIndexDigests(ctx, ra.images[svc])
		if err != nil {
			return err
		}
		b, err := readIndexDigests(ctx, rb.images[svc])
		if err != nil {
			return err
		}
		diffs := compareIndexes(a, b)
		for _, p := range slices.Sorted(maps.Keys(a.Platforms)) {
			x := a.Platforms[p]
			same := "yes"
			if slices.ContainsFunc(diffs, func(d string) bool { return strings.HasPrefix(d, p+":") }) {
				same = "NO"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", svc, p, short(x.Manifest), short(x.Config), len(x.Layers), short(x.SBOM), same)
		}
		for _, d := range diffs {
			failed = append(failed, svc+" "+d)
		}
	}
	tw.Flush()
	fmt.Fprintf(stdout, "commit %s; the image indexes differ only in their provenance (build times, invocation)\n", ra.revision)
	if len(failed) > 0 {
		for _, f := range failed {
			fmt.Fprintln(stdout, "  "+f)
		}
		return fmt.Errorf("not reproducible: %d differences", len(failed))
	}
	fmt.Fprintln(stdout, "reproducible: every image manifest, config, layer and SBOM has the same digest in both builds")
	return nil
}
