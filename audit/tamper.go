package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/go-voting-app/voting-app/audit/hardening"
)

// tamperSelftest proves the signature rule (REL004) on the real registry: it changes one byte of
// a released image (a letter of a label in the amd64 image's config), pushes the result under the
// released tag, and expects the audit to reject it, first unsigned, then carrying the original
// signature copied onto it. The original index is put back under the tag afterwards.
func tamperSelftest(ctx context.Context, rec *releaseRecord, service, cosign string, stdout io.Writer) error {
	ref := rec.images[service]
	if ref == "" {
		return fmt.Errorf("the release has no %s image", service)
	}
	orig, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		return err
	}
	dig, ok := orig.(name.Digest)
	if !ok {
		return fmt.Errorf("%s is not pinned by digest", ref)
	}
	tag, err := name.NewTag(strings.SplitN(ref, "@", 2)[0], name.Insecure)
	if err != nil {
		return err
	}
	opts := []remote.Option{remote.WithContext(ctx)}
	idx, err := remote.Index(dig, opts...)
	if err != nil {
		return err
	}
	rel, err := readRelease(ctx, rec, ref, cosign)
	if err != nil {
		return err
	}
	if rel.Signature != nil {
		return fmt.Errorf("the untouched release does not verify, so tampering proves nothing: %v", rel.Signature)
	}
	fmt.Fprintf(stdout, "release: %s verifies\n", ref)

	tampered, err := tamperIndex(idx)
	if err != nil {
		return err
	}
	tdig, err := tampered.Digest()
	if err != nil {
		return err
	}
	// Whatever happens, the tag ends up on the released index again.
	defer remote.WriteIndex(tag, idx, remote.WithContext(context.WithoutCancel(ctx)))
	if err := remote.WriteIndex(tag, tampered, opts...); err != nil {
		return fmt.Errorf("push the tampered index: %w", err)
	}
	tref := tag.String() + "@" + tdig.String()
	check := func(what string) error {
		r, err := readRelease(ctx, rec, tref, cosign)
		if err != nil {
			return err
		}
		for _, res := range hardening.CheckRelease(r) {
			if res.Rule != "REL004" {
				continue
			}
			if res.Status != hardening.Fail {
				return fmt.Errorf("%s: REL004 %s for a tampered image: %s", what, res.Status, res.Detail)
			}
			fmt.Fprintf(stdout, "%s: REL004 fail — %s\n", what, res.Detail)
		}
		return nil
	}
	if err := check("one byte changed, re-pushed, unsigned"); err != nil {
		return err
	}
	// An attacker who can push could also copy the old signature next to the new digest.
	sigOf := func(h v1.Hash) (name.Tag, error) {
		return name.NewTag(tag.Context().String()+":"+h.Algorithm+"-"+h.Hex+".sig", name.Insecure)
	}
	oldSig, err := sigOf(mustHash(dig.DigestStr()))
	if err != nil {
		return err
	}
	newSig, err := sigOf(tdig)
	if err != nil {
		return err
	}
	sig, err := remote.Image(oldSig, opts...)
	if err != nil {
		return fmt.Errorf("the release's signature %s: %w", oldSig, err)
	}
	if err := remote.Write(newSig, sig, opts...); err != nil {
		return err
	}
	defer remote.Delete(newSig, remote.WithContext(context.WithoutCancel(ctx)))
	if err := check("the same, with the original signature copied onto it"); err != nil {
		return err
	}
	return nil
}

func mustHash(s string) v1.Hash {
	h, err := v1.NewHash(s)
	if err != nil {
		panic(err)
	}
	return h
}

// tamperIndex returns the index with one byte of its amd64 image's config changed: the first
// letter of the image title label, upper-cased.
func tamperIndex(idx v1.ImageIndex) (v1.ImageIndex, error) {
	man, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	out := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	done := false
	for _, d := range man.Manifests {
		img, err := idx.Image(d.Digest)
		if err != nil {
			return nil, err
		}
		if !done && d.Platform != nil && d.Platform.Architecture == "amd64" {
			cf, err := img.ConfigFile()
			if err != nil {
				return nil, err
			}
			cf = cf.DeepCopy()
			title := cf.Config.Labels["org.opencontainers.image.title"]
			if title == "" {
				return nil, fmt.Errorf("no title label to change")
			}
			cf.Config.Labels["org.opencontainers.image.title"] = strings.ToUpper(title[:1]) + title[1:]
			if img, err = mutate.ConfigFile(img, cf); err != nil {
				return nil, err
			}
			done = true
			dg, err := img.Digest()
			if err != nil {
				return nil, err
			}
			d.Digest = dg
			if d.Size, err = img.Size(); err != nil {
				return nil, err
			}
		}
		out = mutate.AppendManifests(out, mutate.IndexAddendum{Add: img, Descriptor: d})
	}
	if !done {
		return nil, fmt.Errorf("no amd64 image in the index")
	}
	return out, nil
}
