package main

import (
	"strings"
	"testing"
)

func TestCompareIndexes(t *testing.T) {
	img := func(m string) imageDigests {
		return imageDigests{Manifest: "sha256:m" + m, Config: "sha256:c" + m, Layers: []string{"sha256:base", "sha256:bin" + m}, SBOM: "sha256:s"}
	}
	a := indexDigests{Index: "sha256:i1", Platforms: map[string]imageDigests{"linux/amd64": img("1"), "linux/arm64": img("2")}}
	b := indexDigests{Index: "sha256:i2", Platforms: map[string]imageDigests{"linux/amd64": img("1"), "linux/arm64": img("2")}}
	if d := compareIndexes(a, b); len(d) != 0 {
		t.Errorf("same images, another index (provenance): %v", d)
	}
	b.Platforms["linux/arm64"] = img("3")
	d := compareIndexes(a, b)
	if len(d) != 1 || !strings.HasPrefix(d[0], "linux/arm64: manifest") || !strings.Contains(d[0], "layer 1 differs") {
		t.Errorf("another arm64 binary layer: %v", d)
	}
	b.Platforms["linux/arm64"] = img("2")
	x := b.Platforms["linux/amd64"]
	x.SBOM = "sha256:other"
	b.Platforms["linux/amd64"] = x
	if d := compareIndexes(a, b); len(d) != 1 || !strings.Contains(d[0], "SBOM") {
		t.Errorf("another SBOM: %v", d)
	}
	delete(b.Platforms, "linux/amd64")
	if d := compareIndexes(a, b); len(d) != 1 || !strings.Contains(d[0], "in one build only") {
		t.Errorf("a platform missing: %v", d)
	}
}
