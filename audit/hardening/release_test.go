package hardening

import (
	"errors"
	"testing"
)

func goodRelease() *Release {
	img := func(platform string) PlatformImage {
		return PlatformImage{
			Platform: platform, Digest: "sha256:" + platform,
			Modules:        []string{"stdlib@go1.26.8", "github.com/go-voting-app/voting-app/vote@(devel)", "github.com/redis/go-redis/v9@v9.23.0"},
			SBOM:           []string{"stdlib@go1.26.8", "github.com/go-voting-app/voting-app/vote@(devel)", "github.com/redis/go-redis/v9@v9.23.0", "base-files@12.4+deb12u15"},
			Provenance:     []byte(`{"buildDefinition":{},"runDetails":{"metadata":{"https://mobyproject.org/buildkit@v1#metadata":{"vcs":{"revision":"0123456789abcdef0123456789abcdef01234567"}}}}}`),
			ProvenanceType: "https://slsa.dev/provenance/v1",
		}
	}
	return &Release{Ref: "127.0.0.1:5125/voting-app/vote:v1@sha256:0", Want: []string{"linux/amd64", "linux/arm64"},
		Revision: "0123456789abcdef0123456789abcdef01234567", Images: []PlatformImage{img("linux/amd64"), img("linux/arm64")}}
}

type releaseCase struct {
	rule, name string
	change     func(*Release)
}

func releaseCases() []releaseCase {
	return []releaseCase{
		{"REL001", "arm64 missing", func(r *Release) { r.Images = r.Images[:1] }},
		{"REL002", "no SBOM", func(r *Release) { r.Images[1].SBOM = nil }},
		{"REL002", "a module missing from the SBOM", func(r *Release) { r.Images[0].SBOM = r.Images[0].SBOM[:2] }},
		{"REL002", "another version in the SBOM", func(r *Release) { r.Images[0].SBOM[2] = "github.com/redis/go-redis/v9@v9.22.0" }},
		{"REL002", "binary unreadable", func(r *Release) { r.Images[0].BinaryErr = errors.New("no Go build information") }},
		{"REL003", "no provenance", func(r *Release) { r.Images[1].Provenance = nil }},
		{"REL003", "another revision", func(r *Release) { r.Revision = "fedcba9876543210fedcba9876543210fedcba98" }},
		{"REL004", "unsigned", func(r *Release) { r.Signature = errors.New("cosign verify: no signatures found") }},
	}
}

func TestReleaseGood(t *testing.T) {
	for _, res := range CheckRelease(goodRelease()) {
		if res.Status != Pass {
			t.Errorf("%s: %s %s", res.Rule, res.Status, res.Detail)
		}
	}
}

func TestReleaseBad(t *testing.T) {
	for _, c := range releaseCases() {
		t.Run(c.rule+"/"+c.name, func(t *testing.T) {
			r := goodRelease()
			c.change(r)
			for _, res := range CheckRelease(r) {
				switch {
				case res.Rule == c.rule && res.Status != Fail:
					t.Errorf("%s: %s %s, want fail", res.Rule, res.Status, res.Detail)
				case res.Rule != c.rule && res.Status != Pass:
					t.Errorf("%s also: %s %s", res.Rule, res.Status, res.Detail)
				}
			}
		})
	}
}

// No release to read fails every release rule with the reason.
func TestNoRelease(t *testing.T) {
	rep := Audit(Subject{Name: "vote", ReleaseErr: errors.New("no release recorded in out/release (run make release)")}, DefaultPolicy())
	if len(rep.Results) != len(releaseRules()) || !rep.Failed() {
		t.Errorf("%d results, failed %v", len(rep.Results), rep.Failed())
	}
}
