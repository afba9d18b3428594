package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// syftDoc is the shape of syft's SPDX JSON output, trimmed to the fields this program touches.
const syftDoc = `{"spdxVersion":"SPDX-2.3","name":"sbom",
"documentNamespace":"https://anchore.com/syft/dir/sbom-0b5f3c2e-7d41-4a3b-9a8e-0c1d2e3f4a5b",
"creationInfo":{"created":"2026-12-03T10:11:12Z","creators":["Tool: syft-v1.57.2"]},
"packages":[{"name":"github.com/jackc/pgx/v5","versionInfo":"v5.12.0","SPDXID":"SPDXRef-Package-go-module-1"}]}`

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestStatementIsReproducible(t *testing.T) {
	created := time.Unix(1764700000, 0).UTC()
	a, err := statement([]byte(syftDoc), created)
	if err != nil {
		t.Fatal(err)
	}
	// The same document scanned at another time, with another random namespace.
	other := strings.Replace(strings.Replace(syftDoc, "2026-12-03T10:11:12Z", "2026-12-04T00:00:00Z", 1),
		"0b5f3c2e-7d41-4a3b-9a8e-0c1d2e3f4a5b", "ffffffff-0000-4000-8000-000000000000", 1)
	b, err := statement([]byte(other), created)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Errorf("two scans of one file system differ:\n%s\n%s", a, b)
	}
	var st struct {
		Type          string `json:"_type"`
		PredicateType string `json:"predicateType"`
		Predicate     struct {
			Namespace string `json:"documentNamespace"`
			Info      struct {
				Created string `json:"created"`
			} `json:"creationInfo"`
		} `json:"predicate"`
	}
	if err := json.Unmarshal(a, &st); err != nil {
		t.Fatal(err)
	}
	if st.Type != "https://in-toto.io/Statement/v0.1" || st.PredicateType != "https://spdx.dev/Document" {
		t.Errorf("statement type %q, predicate %q", st.Type, st.PredicateType)
	}
	if st.Predicate.Info.Created != "2025-12-02T18:26:40Z" {
		t.Errorf("created %q, want SOURCE_DATE_EPOCH as RFC 3339", st.Predicate.Info.Created)
	}
	if !strings.HasPrefix(st.Predicate.Namespace, "https://anchore.com/syft/dir/sbom-") || strings.Contains(st.Predicate.Namespace, "0b5f3c2e") {
		t.Errorf("namespace %q: want syft's prefix and a content-derived id", st.Predicate.Namespace)
	}
	// A different document gets a different namespace.
	c, _ := statement([]byte(strings.Replace(syftDoc, "v5.12.0", "v5.12.1", 1)), created)
	var sc struct {
		Predicate struct {
			Namespace string `json:"documentNamespace"`
		} `json:"predicate"`
	}
	json.Unmarshal(c, &sc)
	if sc.Predicate.Namespace == st.Predicate.Namespace {
		t.Error("two different documents share a namespace")
	}
}

func TestStatementRejectsNonSPDX(t *testing.T) {
	for _, in := range []string{"not json", `{"packages":[]}`} {
		if _, err := statement([]byte(in), time.Unix(0, 0)); err == nil {
			t.Errorf("statement(%q): no error", in)
		}
	}
}

func TestConfig(t *testing.T) {
	now := func() time.Time { return time.Unix(42, 0) }
	extras := t.TempDir()
	for _, d := range []string{"sbom-extra-a", "sbom-extra-b"} {
		if err := os.Mkdir(filepath.Join(extras, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	c, err := loadConfig(env(map[string]string{
		"BUILDKIT_SCAN_DESTINATION":       "/run/out",
		"BUILDKIT_SCAN_SOURCE":            "/run/src/core/sbom",
		"BUILDKIT_SCAN_SOURCE_EXTRAS":     extras,
		"BUILDKIT_SCAN_SOURCE_DATE_EPOCH": "1764700000",
	}), now)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tg := range c.targets {
		names = append(names, tg.name)
	}
	if got := strings.Join(names, ","); got != "sbom,sbom-extra-a,sbom-extra-b" {
		t.Errorf("targets %s", got)
	}
	if !c.created.Equal(time.Unix(1764700000, 0)) {
		t.Errorf("created %v", c.created)
	}
	// Extras that do not exist, no epoch: no error, the current time.
	c, err = loadConfig(env(map[string]string{
		"BUILDKIT_SCAN_DESTINATION": "/run/out", "BUILDKIT_SCAN_SOURCE": "/run/src/core/sbom",
		"BUILDKIT_SCAN_SOURCE_EXTRAS": filepath.Join(extras, "missing"),
	}), now)
	if err != nil || len(c.targets) != 1 || !c.created.Equal(time.Unix(42, 0)) {
		t.Errorf("optional parameters: %v, %d targets, created %v", err, len(c.targets), c.created)
	}
	// The required parameters, and a bad epoch, are named.
	_, err = loadConfig(env(map[string]string{"SOURCE_DATE_EPOCH": "yesterday"}), now)
	for _, want := range []string{"BUILDKIT_SCAN_DESTINATION", "BUILDKIT_SCAN_SOURCE", "SOURCE_DATE_EPOCH"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not name %s", err, want)
		}
	}
}

// TestRunWritesOneStatementPerTarget runs the program end to end with a stand-in for syft: the
// real one runs in the scanner image (deploy/release/images/sbom-scanner), where make release
// exercises it; here only the protocol around it is under test.
func TestRunWritesOneStatementPerTarget(t *testing.T) {
	dir := t.TempDir()
	fake := filepath.Join(dir, "syft")
	script := "#!/bin/sh\ncat <<'EOF'\n" + syftDoc + "\nEOF\n"
	if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	os.Mkdir(out, 0o755)
	src := filepath.Join(dir, "src", "sbom")
	os.MkdirAll(src, 0o755)
	var stderr bytes.Buffer
	err := run(context.Background(), env(map[string]string{
		"BUILDKIT_SCAN_DESTINATION": out, "BUILDKIT_SCAN_SOURCE": src,
		"SBOMSCAN_SYFT": fake, "SOURCE_DATE_EPOCH": "0", "HOME": dir,
	}), &stderr)
	if err != nil {
		t.Fatalf("run: %v (%s)", err, stderr.String())
	}
	b, err := os.ReadFile(filepath.Join(out, "sbom.spdx.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(`"predicateType":"https://spdx.dev/Document"`)) || !bytes.Contains(b, []byte("1970-01-01T00:00:00Z")) {
		t.Errorf("statement: %s", b)
	}
}
