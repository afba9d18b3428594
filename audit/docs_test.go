package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// docs/hardening.md names files and lines; when a Dockerfile, the compose file or platform/app
// moves a line, this test says so, and `go run . docs -root ..` (in audit/) brings the tables back
// in line.
func TestHardeningDocUpToDate(t *testing.T) {
	path := filepath.Join("..", "docs", "hardening.md")
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Skip("no docs/hardening.md next to the audit module")
	}
	want, err := renderDocs("..", bytes.Clone(doc))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(doc, want) {
		t.Errorf("docs/hardening.md is out of date: run `go run . docs -root ..` in audit/")
	}
}

func TestRefResolve(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("a\nUSER 1\nb\nUSER 2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if line, err := (ref{"f", `^b$`}).resolve(dir); err != nil || line != 3 {
		t.Errorf("resolve b: %d, %v; want 3", line, err)
	}
	if _, err := (ref{"f", `^USER`}).resolve(dir); err == nil {
		t.Error("a pattern on two lines resolved; want an error")
	}
	if _, err := (ref{"f", `^nope`}).resolve(dir); err == nil {
		t.Error("a pattern on no line resolved; want an error")
	}
}
