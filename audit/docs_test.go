package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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

// Generated documents carry the revision and a digest of the files they were generated from
// (stamp); when any of those files changes, the document is stale and this test names the
// command that brings it up to date. CI runs it (make test).
func TestGeneratedDocsCurrent(t *testing.T) {
	for _, p := range staleDocs(context.Background(), "..") {
		t.Error(p)
	}
}

func TestStaleDocsNoticesAChange(t *testing.T) {
	dir := t.TempDir()
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@t")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v %s", args, err, out)
		}
	}
	write := func(p, s string) {
		t.Helper()
		os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755)
		if err := os.WriteFile(filepath.Join(dir, p), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	git("init", "-q")
	for _, f := range []string{"vote/main.go", "platform/x.go", "deploy/size-ladder/a.Dockerfile", "audit/ladder.go", "audit/hardening/r.go", "audit/chart/c.go", "deploy/offline/static/Dockerfile"} {
		write(f, "v1")
	}
	write("vote/main_test.go", "v1")
	git("add", ".")
	git("commit", "-qm", "one")
	ctx := context.Background()
	for _, doc := range []string{"docs/size-ladder.md", "docs/size-ladder.svg"} {
		st, err := stamp(ctx, dir, doc)
		if err != nil {
			t.Fatal(err)
		}
		write(doc, string(withStamp(doc, st, []byte("<svg>\n"))))
	}
	ladderProblems := func() []string {
		var out []string
		for _, p := range staleDocs(ctx, dir) {
			if strings.Contains(p, "size-ladder") {
				out = append(out, p)
			}
		}
		return out
	}
	if p := ladderProblems(); len(p) != 0 {
		t.Fatalf("fresh documents reported: %v", p)
	}
	write("vote/main_test.go", "v2") // a test is not an input
	if p := ladderProblems(); len(p) != 0 {
		t.Fatalf("a test change made the documents stale: %v", p)
	}
	write("vote/main.go", "v2")
	git("commit", "-qam", "two")
	p := ladderProblems()
	if len(p) != 2 || !strings.Contains(p[0], "vote/main.go") || !strings.Contains(p[0], "run make size-ladder") {
		t.Fatalf("after a change to vote/main.go: %v", p)
	}
}
