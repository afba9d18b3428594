package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
)

// floors names, for each service, the floor program (audit/floor/<set>) that links the libraries
// the service must link: its size plus the runtime base is what the image cannot go below.
var floors = map[string]string{
	"vote":     "redis",
	"result":   "pgx",
	"analyzer": "pgx",
	"worker":   "pgx-redis",
}

// floorFlags are the images' build flags (vote/Dockerfile's go build).
var floorFlags = []string{"build", "-trimpath", "-tags", "nethttpomithttp2", "-ldflags", "-s -w"}

var relReplace = regexp.MustCompile(`(?m)^(replace\s+\S+(?:\s+\S+)?\s+=>\s+)(\.\.?/\S*)\s*$`)

// buildFloor builds audit/floor/<set> inside a copy of the service module's go.mod and go.sum,
// so it links the very versions the service does, and returns the binary's size in bytes.
func buildFloor(ctx context.Context, root, service, set string) (int64, error) {
	svcDir, err := filepath.Abs(filepath.Join(root, service))
	if err != nil {
		return 0, err
	}
	dir, err := os.MkdirTemp("", "audit-floor-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	mod, err := os.ReadFile(filepath.Join(svcDir, "go.mod"))
	if err != nil {
		return 0, err
	}
	// The copy lives elsewhere: relative replace targets (../platform) become absolute.
	mod = relReplace.ReplaceAllFunc(mod, func(m []byte) []byte {
		sub := relReplace.FindSubmatch(m)
		return []byte(string(sub[1]) + filepath.Join(svcDir, string(sub[2])))
	})
	mod = regexp.MustCompile(`(?m)^module\s+\S+`).ReplaceAll(mod, []byte("module floor"))
	sum, err := os.ReadFile(filepath.Join(svcDir, "go.sum"))
	if err != nil {
		return 0, err
	}
	src, err := os.ReadFile(filepath.Join(root, "audit", "floor", set, "main.go"))
	if err != nil {
		return 0, err
	}
	for name, b := range map[string][]byte{"go.mod": mod, "go.sum": sum, "main.go": src} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return 0, err
		}
	}
	bin := filepath.Join(dir, "floor")
	cmd := exec.CommandContext(ctx, "go", append(floorFlags, "-o", bin, ".")...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off", "CGO_ENABLED=0", "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("floor %s for %s: %w: %s", set, service, err, strings.TrimSpace(string(out)))
	}
	st, err := os.Stat(bin)
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}
