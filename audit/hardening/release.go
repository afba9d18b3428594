package hardening

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
)

// ScopeRelease rules read a released image index from the registry: its platforms, the
// attestations BuildKit attached and the signature.
const ScopeRelease Scope = "release"

// Release is what could be read about one released image index.
type Release struct {
	// Ref is the index, repository@digest.
	Ref string
	// Want lists the platforms a release must cover (os/arch[/variant]).
	Want []string
	// Revision is the full commit hash the release was built from.
	Revision string
	Images   []PlatformImage
	// Signature is nil when cosign verified the index's signature with the release key.
	Signature error
}

// PlatformImage is one platform's image in the index.
type PlatformImage struct {
	Platform string
	Digest   string
	// Modules are the binary's modules as `go version -m` lists them (path@version), the main
	// module and the standard library ("stdlib@go1.26.8") included; BinaryErr says why not.
	Modules   []string
	BinaryErr error
	// SBOM lists the packages (name@version) of the SPDX document attached to this platform's
	// image; nil when there is none.
	SBOM []string
	// Provenance is the SLSA provenance predicate attached to it; nil when there is none.
	Provenance     []byte
	ProvenanceType string
	// AttestationErr says why the attestations could not be read.
	AttestationErr error
}

type releaseRule struct {
	Rule
	check func(*Release) Finding
}

func releaseRules() []releaseRule {
	rel := func(id, title, why, fix string, check func(*Release) Finding) releaseRule {
		return releaseRule{Rule{ID: id, Scope: ScopeRelease, Title: title, Why: why, Fix: fix}, check}
	}
	return []releaseRule{
		rel("REL001", "one image index for every release platform",
			"one name serves amd64 and arm64 hosts alike; each pulls its own image",
			"docker buildx bake with platforms linux/amd64,linux/arm64 (make release)",
			checkPlatforms),
		rel("REL002", "SBOM lists every module linked into the binary",
			"a scanner can match the image against advisories for every module it runs, without unpacking it",
			"--attest type=sbom with a generator that reads Go build information (syft; make release)",
			checkSBOM),
		rel("REL003", "provenance names the source revision",
			"ties the image to the commit and the build that made it: who can rebuild it, from what",
			"--attest type=provenance,mode=max from a git work tree (make release)",
			checkProvenance),
		rel("REL004", "signed with the release key",
			"a deploy can refuse any image the release did not produce, including one changed after the build",
			"cosign sign --key cosign.key <image>@<digest> after the push (make release)",
			checkSignature),
	}
}

// CheckRelease runs the release rules.
func CheckRelease(r *Release) []Result {
	var out []Result
	for _, rule := range releaseRules() {
		f := rule.check(r)
		out = append(out, Result{Rule: rule.ID, Scope: rule.Scope, Title: rule.Title, Status: f.Status,
			Detail: f.Detail, Why: rule.Why, Where: r.Ref})
	}
	return out
}

// failRelease is every release rule failing for the same reason (no release, no registry).
func failRelease(ref string, err error) []Result {
	var out []Result
	for _, rule := range releaseRules() {
		out = append(out, Result{Rule: rule.ID, Scope: rule.Scope, Title: rule.Title, Status: Fail,
			Detail: err.Error(), Why: rule.Why, Where: ref})
	}
	return out
}

func checkPlatforms(r *Release) Finding {
	var have []string
	for _, im := range r.Images {
		have = append(have, im.Platform)
	}
	var missing []string
	for _, w := range r.Want {
		if !slices.Contains(have, w) {
			missing = append(missing, w)
		}
	}
	if len(missing) > 0 {
		return fail("no image for %s (the index has %s)", strings.Join(missing, ", "), orNone(have))
	}
	return pass("%s", strings.Join(have, ", "))
}

func orNone(l []string) string {
	if len(l) == 0 {
		return "none"
	}
	return strings.Join(l, ", ")
}

func checkSBOM(r *Release) Finding {
	if len(r.Images) == 0 {
		return fail("no platform image in the index")
	}
	var parts []string
	for _, im := range r.Images {
		switch {
		case im.BinaryErr != nil:
			return fail("%s: the binary's modules: %v", im.Platform, im.BinaryErr)
		case im.AttestationErr != nil:
			return fail("%s: %v", im.Platform, im.AttestationErr)
		case im.SBOM == nil:
			return fail("%s: no SBOM attestation (an SPDX document) for %s", im.Platform, im.Digest)
		}
		var missing []string
		for _, m := range im.Modules {
			if !sbomHas(im.SBOM, m) {
				missing = append(missing, m)
			}
		}
		if len(missing) > 0 {
			return fail("%s: the SBOM (%d packages) lacks %d of the binary's %d modules: %s", im.Platform, len(im.SBOM), len(missing), len(im.Modules), list(missing, 3))
		}
		parts = append(parts, fmt.Sprintf("%s %d/%d", im.Platform, len(im.Modules), len(im.Modules)))
	}
	return pass("every module the binary lists is in its SBOM: %s", strings.Join(parts, ", "))
}

// sbomHas reports whether the SBOM lists module m (path@version). The main module of a build
// without version control and a module replaced by a directory have no version ("(devel)"; syft
// says UNKNOWN): their path is enough.
func sbomHas(sbom []string, m string) bool {
	path, version, _ := strings.Cut(m, "@")
	for _, p := range sbom {
		n, v, _ := strings.Cut(p, "@")
		if n == path && (v == version || version == "(devel)") {
			return true
		}
	}
	return false
}

func checkProvenance(r *Release) Finding {
	if len(r.Images) == 0 {
		return fail("no platform image in the index")
	}
	if r.Revision == "" {
		return fail("no source revision recorded for the release to look for")
	}
	for _, im := range r.Images {
		switch {
		case im.AttestationErr != nil:
			return fail("%s: %v", im.Platform, im.AttestationErr)
		case im.Provenance == nil:
			return fail("%s: no provenance attestation for %s", im.Platform, im.Digest)
		case !bytes.Contains(im.Provenance, []byte(r.Revision)):
			return fail("%s: the provenance (%s) does not name revision %s", im.Platform, im.ProvenanceType, r.Revision)
		}
	}
	return pass("%s for each platform, naming %s", r.Images[0].ProvenanceType, r.Revision[:12])
}

func checkSignature(r *Release) Finding {
	if r.Signature != nil {
		return fail("%v", r.Signature)
	}
	return pass("cosign verified %s with the release key", r.Ref)
}
