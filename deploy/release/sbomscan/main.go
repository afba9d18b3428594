// Command sbomscan is an SBOM generator for BuildKit: the entrypoint of the scanner image that
// `docker buildx build --attest type=sbom,generator=<image>` runs. It follows BuildKit's SBOM
// scanning protocol (docs/attestations/sbom-protocol.md in moby/buildkit): scan the root file
// system named by BUILDKIT_SCAN_SOURCE, and each one under BUILDKIT_SCAN_SOURCE_EXTRAS, and write
// one in-toto statement with an SPDX document per file system to BUILDKIT_SCAN_DESTINATION.
//
// The scanning itself is syft's (`syft scan dir:<root> -o spdx-json`), which reads the module list
// every Go binary carries and the Debian package metadata under /var/lib/dpkg. What this program
// adds is the protocol and reproducibility: syft stamps each document with the current time and a
// random namespace, so two builds of the same commit would attach different SBOMs. Here the
// creation time is SOURCE_DATE_EPOCH (passed as the attestation parameter of that name, which
// BuildKit hands over as BUILDKIT_SCAN_SOURCE_DATE_EPOCH) and the namespace is derived from the
// document's own content.
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Getenv, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "sbomscan: %v\n", err)
		os.Exit(1)
	}
}

// config is what BuildKit passes in the environment.
type config struct {
	dest    string
	targets []target
	created time.Time
	syft    string
}

// target is one file system to scan; its name is the last element of its path.
type target struct{ name, root string }

func loadConfig(getenv func(string) string, now func() time.Time) (config, error) {
	c := config{dest: getenv("BUILDKIT_SCAN_DESTINATION"), syft: getenv("SBOMSCAN_SYFT")}
	if c.syft == "" {
		c.syft = "syft"
	}
	src := getenv("BUILDKIT_SCAN_SOURCE")
	var problems []string
	if c.dest == "" {
		problems = append(problems, "BUILDKIT_SCAN_DESTINATION is not set")
	}
	if src == "" {
		problems = append(problems, "BUILDKIT_SCAN_SOURCE is not set")
	} else {
		c.targets = append(c.targets, target{filepath.Base(src), src})
	}
	// Optional: a directory of further root file systems. Unset, empty or missing means none.
	if extras := getenv("BUILDKIT_SCAN_SOURCE_EXTRAS"); extras != "" {
		entries, err := os.ReadDir(extras)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			problems = append(problems, fmt.Sprintf("BUILDKIT_SCAN_SOURCE_EXTRAS: %v", err))
		}
		for _, e := range entries {
			if e.IsDir() {
				c.targets = append(c.targets, target{e.Name(), filepath.Join(extras, e.Name())})
			}
		}
	}
	c.created = now().UTC().Truncate(time.Second)
	for _, k := range []string{"BUILDKIT_SCAN_SOURCE_DATE_EPOCH", "SOURCE_DATE_EPOCH"} {
		v := getenv(k)
		if v == "" {
			continue
		}
		sec, err := strconv.ParseInt(v, 10, 64)
		if err != nil || sec < 0 {
			problems = append(problems, fmt.Sprintf("%s=%q is not a count of seconds", k, v))
			break
		}
		c.created = time.Unix(sec, 0).UTC()
		break
	}
	if len(problems) > 0 {
		return c, errors.New(strings.Join(problems, "; "))
	}
	return c, nil
}

func run(ctx context.Context, getenv func(string) string, stderr io.Writer) error {
	c, err := loadConfig(getenv, time.Now)
	if err != nil {
		return err
	}
	for _, t := range c.targets {
		doc, err := scan(ctx, c.syft, t, getenv, stderr)
		if err != nil {
			return fmt.Errorf("scan %s: %w", t.name, err)
		}
		stmt, err := statement(doc, c.created)
		if err != nil {
			return fmt.Errorf("scan %s: %w", t.name, err)
		}
		if err := os.WriteFile(filepath.Join(c.dest, t.name+".spdx.json"), stmt, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// scan runs syft over one root file system and returns its SPDX JSON document.
func scan(ctx context.Context, syft string, t target, getenv func(string) string, stderr io.Writer) ([]byte, error) {
	cmd := exec.CommandContext(ctx, syft, "scan", "dir:"+t.root,
		"--source-name", t.name,
		// The catalogers syft uses for an image: what is installed (binaries, package metadata),
		// not what a source tree declares.
		"--override-default-catalogers", "image",
		"--output", "spdx-json", "--quiet")
	home := getenv("HOME")
	if home == "" || home == "/" {
		home = os.TempDir()
	}
	cmd.Env = append(os.Environ(), "SYFT_CHECK_FOR_APP_UPDATE=false", "HOME="+home)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s: %w", syft, err)
	}
	return out.Bytes(), nil
}

// statement wraps an SPDX document into the in-toto statement BuildKit expects, with the creation
// time set to created and a namespace derived from the rest of the document, so that the same
// file system always gives the same bytes. BuildKit fills in the subject.
func statement(spdx []byte, created time.Time) ([]byte, error) {
	var doc map[string]any
	if err := json.Unmarshal(spdx, &doc); err != nil {
		return nil, fmt.Errorf("syft output is not JSON: %w", err)
	}
	info, ok := doc["creationInfo"].(map[string]any)
	if !ok {
		return nil, errors.New("syft output has no creationInfo: not an SPDX JSON document")
	}
	info["created"] = created.Format(time.RFC3339)
	oldNS, _ := doc["documentNamespace"].(string)
	delete(doc, "documentNamespace")
	canonical, err := json.Marshal(doc) // map keys are sorted: the same document, the same bytes
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(canonical)
	doc["documentNamespace"] = namespace(oldNS, hex.EncodeToString(sum[:16]))
	return json.Marshal(map[string]any{
		"_type":         "https://in-toto.io/Statement/v0.1",
		"predicateType": "https://spdx.dev/Document",
		"subject":       []any{},
		"predicate":     doc,
	})
}

// randomID is the UUID syft ends a namespace with.
var randomID = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// namespace keeps syft's namespace (it names the tool and the source) with its random UUID
// replaced by id.
func namespace(old, id string) string {
	if strings.HasPrefix(old, "https://") && randomID.MatchString(old) {
		return randomID.ReplaceAllString(old, id)
	}
	return "https://spdx.org/spdxdocs/sbomscan-" + id
}
