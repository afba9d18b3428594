package main

import (
	"archive/tar"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/go-voting-app/voting-app/audit/hardening"
)

func TestContentsSpecParses(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("..", "deploy", "offline", "static", "distroless-static.txt"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := parseContentsSpec("distroless-static.txt", src)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(s.packages, " ") != "base-files netbase tzdata media-types" || len(s.metadata) != 1 {
		t.Errorf("packages %v, metadata %v", s.packages, s.metadata)
	}
	for _, bad := range []string{"package", "file /x 0644", "dir /x 9999 0:0", "file /x 0644 root", "config shell /bin/sh", "frob x"} {
		if _, err := parseContentsSpec("bad", []byte(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

// image builds the file map LoadImage would give for these entries.
func image(es ...entry) map[string]*hardening.File {
	m := map[string]*hardening.File{}
	for _, e := range es {
		mode := e.Mode
		switch e.Type {
		case tar.TypeDir:
			mode |= fs.ModeDir
		case tar.TypeSymlink:
			mode |= fs.ModeSymlink
		}
		m[e.Path] = &hardening.File{Path: e.Path, Type: e.Type, Mode: mode, UID: e.UID, GID: e.GID, Link: e.Link}
	}
	return m
}

// The check fails on each kind of difference: a missing file, an extra one, another mode (the
// world-writable /var/lock a stand-in might "fix"), another owner, another link target.
func TestCompareContents(t *testing.T) {
	spec, err := parseContentsSpec("spec", []byte("package base-files\ndir /tmp 1777 0:0\nfile /etc/passwd 0644 0:0\nconfig user 65532\n"))
	if err != nil {
		t.Fatal(err)
	}
	pkg := debPackage{Name: "base-files", Entries: []entry{
		{Path: "/var/lock", Type: tar.TypeDir, Mode: 0o777 | fs.ModeSticky},
		{Path: "/etc/os-release", Type: tar.TypeSymlink, Mode: 0o777, Link: "../usr/lib/os-release"},
		{Path: "/usr/lib/os-release", Type: tar.TypeReg, Mode: 0o644},
	}}
	want, err := spec.expected(map[string]debPackage{"base-files": pkg})
	if err != nil {
		t.Fatal(err)
	}
	good := []entry{
		{Path: "/etc", Type: tar.TypeDir, Mode: 0o755}, {Path: "/var", Type: tar.TypeDir, Mode: 0o755},
		{Path: "/usr", Type: tar.TypeDir, Mode: 0o755}, {Path: "/usr/lib", Type: tar.TypeDir, Mode: 0o755},
		{Path: "/var/lib", Type: tar.TypeDir, Mode: 0o755}, {Path: "/var/lib/dpkg", Type: tar.TypeDir, Mode: 0o755},
		{Path: "/var/lib/dpkg/status.d", Type: tar.TypeDir, Mode: 0o755},
		{Path: "/var/lib/dpkg/status.d/base-files", Type: tar.TypeReg, Mode: 0o644},
		{Path: "/var/lib/dpkg/status.d/base-files.md5sums", Type: tar.TypeReg, Mode: 0o644},
		{Path: "/var/lock", Type: tar.TypeDir, Mode: 0o777 | fs.ModeSticky},
		{Path: "/etc/os-release", Type: tar.TypeSymlink, Mode: 0o777, Link: "../usr/lib/os-release"},
		{Path: "/usr/lib/os-release", Type: tar.TypeReg, Mode: 0o644},
		{Path: "/tmp", Type: tar.TypeDir, Mode: 0o777 | fs.ModeSticky},
		{Path: "/etc/passwd", Type: tar.TypeReg, Mode: 0o644},
	}
	if d := compareContents(want, image(good...)); len(d) != 0 {
		t.Fatalf("the matching image differs: %v", d)
	}
	cases := map[string]struct {
		change func([]entry) []entry
		want   string
	}{
		"missing": {func(es []entry) []entry { return es[:len(es)-1] }, "missing  /etc/passwd"},
		"extra": {func(es []entry) []entry {
			return append(es, entry{Path: "/bin/sh", Type: tar.TypeReg, Mode: 0o755})
		}, "extra    /bin/sh"},
		"mode": {func(es []entry) []entry {
			es[9] = entry{Path: "/var/lock", Type: tar.TypeSymlink, Mode: 0o777, Link: "/run/lock"}
			return es
		}, "differs  /var/lock"},
		"owner": {func(es []entry) []entry { es[13].UID = 65532; return es }, "differs  /etc/passwd"},
		"link":  {func(es []entry) []entry { es[10].Link = "/usr/lib/os-release"; return es }, "differs  /etc/os-release"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			d := compareContents(want, image(c.change(append([]entry(nil), good...))...))
			if len(d) != 1 || !strings.HasPrefix(d[0], c.want) {
				t.Errorf("differences %q, want one starting %q", d, c.want)
			}
		})
	}
	cfg := hardening.Image{Config: v1.Config{User: "65532:65532"}}
	if d := compareConfig(spec.config, cfg); len(d) != 1 {
		t.Errorf("user 65532:65532 against 65532: %v", d)
	}
}
