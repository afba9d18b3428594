package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/go-voting-app/voting-app/audit/hardening"
)

// docker runs the docker CLI (which negotiates the API version with the engine) and returns its
// standard output; the error carries standard error.
func docker(ctx context.Context, bin, dir string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("%s %s: %w: %s", bin, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

func composeArgs(c common) []string {
	args := []string{"compose", "-f", c.compose}
	for _, e := range c.envFiles {
		args = append(args, "--env-file", e)
	}
	if c.profile != "" {
		args = append(args, "--profile", c.profile)
	}
	return args
}

func composeConfig(ctx context.Context, c common) ([]byte, error) {
	return docker(ctx, c.docker, c.root, append(composeArgs(c), "config", "--format", "json")...)
}

// savedImage writes ref to a docker save tarball in a temporary directory and opens it with
// go-containerregistry. The caller calls done when finished with the image.
func savedImage(ctx context.Context, bin, ref string) (img v1.Image, done func(), err error) {
	dir, err := os.MkdirTemp("", "audit-image-")
	if err != nil {
		return nil, nil, err
	}
	done = func() { os.RemoveAll(dir) }
	tar := filepath.Join(dir, "image.tar")
	if _, err := docker(ctx, bin, "", "image", "save", "-o", tar, ref); err != nil {
		done()
		return nil, nil, fmt.Errorf("image %s not readable (build it with make images): %w", ref, err)
	}
	img, err = tarball.ImageFromPath(tar, nil)
	if err != nil {
		done()
		return nil, nil, fmt.Errorf("image %s: %w", ref, err)
	}
	return img, done, nil
}

func loadImage(ctx context.Context, bin, ref string) (*hardening.Image, error) {
	img, done, err := savedImage(ctx, bin, ref)
	if err != nil {
		return nil, err
	}
	defer done()
	return hardening.LoadImage(ref, img)
}

// readEnvFiles reads KEY=VALUE lines (comments and blank lines skipped) as compose does for
// --env-file, without interpolation, which these files do not use.
func readEnvFiles(root string, files []string) (map[string]string, error) {
	env := map[string]string{}
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				return nil, fmt.Errorf("%s: %q is not KEY=VALUE", f, line)
			}
			env[strings.TrimSpace(k)] = strings.Trim(strings.TrimSpace(v), `"'`)
		}
	}
	return env, nil
}
