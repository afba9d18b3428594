package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"debug/buildinfo"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/go-voting-app/voting-app/audit/hardening"
)

// releaseRecord is what deploy/release/build.sh leaves in out/release: the images by digest, the
// revision, the platforms and the public key.
type releaseRecord struct {
	dir       string
	revision  string
	version   string
	platforms []string
	images    map[string]string // service -> registry/repo:tag@digest
}

func readReleaseRecord(dir string) (*releaseRecord, error) {
	env, err := readEnvFiles(dir, []string{"images.env"})
	if err != nil {
		return nil, fmt.Errorf("no release recorded in %s (run make release): %w", dir, err)
	}
	r := &releaseRecord{dir: dir, revision: env["RELEASE_REVISION"], version: env["RELEASE_VERSION"], images: map[string]string{}}
	for _, p := range strings.Split(env["RELEASE_PLATFORMS"], ",") {
		if p != "" {
			r.platforms = append(r.platforms, p)
		}
	}
	for k, v := range env {
		if svc, ok := strings.CutSuffix(k, "_IMAGE"); ok {
			r.images[strings.ToLower(svc)] = v
		}
	}
	return r, nil
}

// attestation reference annotations BuildKit writes on an attestation manifest in an index.
const (
	refType   = "vnd.docker.reference.type"
	refDigest = "vnd.docker.reference.digest"
)

// readRelease reads one released index from the registry: platforms, each binary's modules, the
// attestations; then asks cosign about the signature.
func readRelease(ctx context.Context, rec *releaseRecord, ref, cosign string) (*hardening.Release, error) {
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		return nil, err
	}
	opts := []remote.Option{remote.WithContext(ctx)}
	idx, err := remote.Index(r, opts...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ref, err)
	}
	man, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ref, err)
	}
	rel := &hardening.Release{Ref: ref, Want: rec.platforms, Revision: rec.revision}
	attest := map[string]v1.Hash{}
	for _, d := range man.Manifests {
		if d.Annotations[refType] == "attestation-manifest" {
			h, err := v1.NewHash(d.Annotations[refDigest])
			if err == nil {
				attest[h.String()] = d.Digest
			}
		}
	}
	for _, d := range man.Manifests {
		if d.Annotations[refType] != "" || d.Platform == nil {
			continue
		}
		pi := hardening.PlatformImage{Platform: platformString(d.Platform), Digest: d.Digest.String()}
		img, err := idx.Image(d.Digest)
		if err != nil {
			pi.BinaryErr = err
		} else {
			pi.Modules, pi.BinaryErr = binaryModules(img)
		}
		if a, ok := attest[d.Digest.String()]; ok {
			if aimg, err := idx.Image(a); err != nil {
				pi.AttestationErr = err
			} else {
				pi.AttestationErr = readAttestations(aimg, &pi)
			}
		}
		rel.Images = append(rel.Images, pi)
	}
	rel.Signature = verifySignature(ctx, cosign, filepath.Join(rec.dir, "cosign.pub"), ref)
	return rel, nil
}

func platformString(p *v1.Platform) string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// binaryModules finds the file the entrypoint runs and reads its Go build information: what
// `go version -m` prints.
func binaryModules(img v1.Image) ([]string, error) {
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	if len(cf.Config.Entrypoint) == 0 {
		return nil, errors.New("no entrypoint")
	}
	bin, err := readFile(img, cf.Config.Entrypoint[0])
	if err != nil {
		return nil, err
	}
	bi, err := buildinfo.Read(bytes.NewReader(bin))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cf.Config.Entrypoint[0], err)
	}
	mods := []string{"stdlib@" + bi.GoVersion, bi.Main.Path + "@" + bi.Main.Version}
	for _, d := range bi.Deps {
		switch {
		case d.Replace != nil && (d.Replace.Version == "" || d.Replace.Version == "(devel)"):
			// Replaced by a directory (the workspace's platform module): no version to match.
			mods = append(mods, d.Path+"@(devel)")
		case d.Replace != nil:
			mods = append(mods, d.Replace.Path+"@"+d.Replace.Version)
		default:
			mods = append(mods, d.Path+"@"+d.Version)
		}
	}
	return mods, nil
}

// readFile reads one regular file from an image's flattened file system.
func readFile(img v1.Image, file string) ([]byte, error) {
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	want := path.Clean("/" + file)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s is not in the image", file)
		}
		if err != nil {
			return nil, err
		}
		if path.Clean("/"+h.Name) == want && h.Typeflag == tar.TypeReg {
			return io.ReadAll(tr)
		}
	}
}

// readAttestations reads the in-toto statements of one attestation manifest into pi.
func readAttestations(img v1.Image, pi *hardening.PlatformImage) error {
	m, err := img.Manifest()
	if err != nil {
		return err
	}
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	for i, l := range layers {
		predicate := m.Layers[i].Annotations["in-toto.io/predicate-type"]
		rc, err := l.Compressed()
		if err != nil {
			return err
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return err
		}
		if len(b) > 2 && b[0] == 0x1f && b[1] == 0x8b {
			zr, err := gzip.NewReader(bytes.NewReader(b))
			if err != nil {
				return err
			}
			if b, err = io.ReadAll(zr); err != nil {
				return err
			}
		}
		var st struct {
			PredicateType string          `json:"predicateType"`
			Predicate     json.RawMessage `json:"predicate"`
		}
		if err := json.Unmarshal(b, &st); err != nil {
			return fmt.Errorf("attestation layer %d: %w", i, err)
		}
		if predicate == "" {
			predicate = st.PredicateType
		}
		switch {
		case strings.HasPrefix(predicate, "https://spdx.dev/Document"):
			var doc struct {
				Packages []struct {
					Name    string `json:"name"`
					Version string `json:"versionInfo"`
				} `json:"packages"`
			}
			if err := json.Unmarshal(st.Predicate, &doc); err != nil {
				return fmt.Errorf("SPDX document: %w", err)
			}
			pi.SBOM = []string{}
			for _, p := range doc.Packages {
				pi.SBOM = append(pi.SBOM, p.Name+"@"+p.Version)
			}
		case strings.HasPrefix(predicate, "https://slsa.dev/provenance/"):
			pi.Provenance, pi.ProvenanceType = st.Predicate, predicate
		}
	}
	return nil
}

// verifySignature asks cosign whether ref carries a signature by the release key.
func verifySignature(ctx context.Context, cosign, pub, ref string) error {
	if _, err := os.Stat(pub); err != nil {
		return fmt.Errorf("no public key to verify with: %w", err)
	}
	if _, err := exec.LookPath(cosign); err != nil {
		return fmt.Errorf("cosign not found (%s; make release-up builds it): %w", cosign, err)
	}
	tuf, err := os.MkdirTemp("", "audit-tuf-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tuf)
	cmd := exec.CommandContext(ctx, cosign, "verify", "--key", pub, "--insecure-ignore-tlog=true",
		"--allow-insecure-registry", "--allow-http-registry", ref)
	cmd.Env = append(os.Environ(), "TUF_ROOT="+tuf)
	out, err := cmd.CombinedOutput()
	if err != nil {
		msg := strings.TrimSpace(string(out))
		if i := strings.LastIndex(msg, "\n"); i >= 0 {
			msg = msg[i+1:]
		}
		return fmt.Errorf("cosign verify: %s", msg)
	}
	return nil
}

// defaultCosign is where deploy/release/tools.sh puts cosign.
func defaultCosign(getenv func(string) string) string {
	dir := getenv("RELEASE_TOOLS_DIR")
	if dir == "" {
		cache := getenv("XDG_CACHE_HOME")
		if cache == "" {
			cache = filepath.Join(getenv("HOME"), ".cache")
		}
		dir = filepath.Join(cache, "voting-app", "release-tools")
	}
	v := getenv("COSIGN_VERSION")
	if v == "" {
		v = "v2.6.5"
	}
	return filepath.Join(dir, "cosign-"+v)
}
