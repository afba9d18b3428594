package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/go-voting-app/voting-app/audit/hardening"
)

// contentsSpec is a parsed contents list (deploy/offline/static/distroless-static.txt): what an
// image built like distroless static must hold.
type contentsSpec struct {
	packages []string // whole data, plus status.d metadata
	metadata []string // status.d metadata only
	entries  []entry  // single files and directories, in order
	config   []string // "user 65532", "workdir /home/nonroot", "env K=V"
}

// entry is one expected file-system entry.
type entry struct {
	Path     string
	Type     byte
	Mode     fs.FileMode // permission and sticky/setuid bits, no type bits
	UID, GID int
	Link     string
	// From says where the expectation comes from, for the report.
	From string
}

func (e entry) String() string {
	s := fmt.Sprintf("%s %s %d:%d", typeName(e.Type), modeString(e.Mode), e.UID, e.GID)
	if e.Link != "" {
		s += " -> " + e.Link
	}
	return s
}

func typeName(t byte) string {
	switch t {
	case tar.TypeDir:
		return "dir"
	case tar.TypeSymlink:
		return "link"
	case tar.TypeLink:
		return "hardlink"
	}
	return "file"
}

func modeString(m fs.FileMode) string {
	n := uint32(m.Perm())
	if m&fs.ModeSticky != 0 {
		n |= 0o1000
	}
	if m&fs.ModeSetgid != 0 {
		n |= 0o2000
	}
	if m&fs.ModeSetuid != 0 {
		n |= 0o4000
	}
	return fmt.Sprintf("%04o", n)
}

func parseMode(s string) (fs.FileMode, error) {
	n, err := strconv.ParseUint(s, 8, 32)
	if err != nil || n > 0o7777 {
		return 0, fmt.Errorf("mode %q is not octal", s)
	}
	m := fs.FileMode(n & 0o777)
	if n&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	if n&0o2000 != 0 {
		m |= fs.ModeSetgid
	}
	if n&0o4000 != 0 {
		m |= fs.ModeSetuid
	}
	return m, nil
}

func parseContentsSpec(name string, src []byte) (*contentsSpec, error) {
	s := &contentsSpec{}
	sc := bufio.NewScanner(bytes.NewReader(src))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		bad := func(format string, a ...any) error {
			return fmt.Errorf("%s:%d: %s", name, n, fmt.Sprintf(format, a...))
		}
		switch f[0] {
		case "package", "metadata":
			if len(f) != 2 {
				return nil, bad("want %s NAME", f[0])
			}
			if f[0] == "package" {
				s.packages = append(s.packages, f[1])
			} else {
				s.metadata = append(s.metadata, f[1])
			}
		case "file", "dir":
			if len(f) != 4 {
				return nil, bad("want %s PATH MODE UID:GID", f[0])
			}
			e := entry{Path: path.Clean(f[1]), Type: tar.TypeReg, From: fmt.Sprintf("%s:%d", name, n)}
			if f[0] == "dir" {
				e.Type = tar.TypeDir
			}
			var err error
			if e.Mode, err = parseMode(f[2]); err != nil {
				return nil, bad("%v", err)
			}
			u, g, ok := strings.Cut(f[3], ":")
			if e.UID, err = strconv.Atoi(u); err != nil || !ok {
				return nil, bad("owner %q is not UID:GID", f[3])
			}
			if e.GID, err = strconv.Atoi(g); err != nil {
				return nil, bad("owner %q is not UID:GID", f[3])
			}
			s.entries = append(s.entries, e)
		case "config":
			if len(f) != 3 || !slices.Contains([]string{"user", "workdir", "env"}, f[1]) {
				return nil, bad("want config user|workdir|env VALUE")
			}
			s.config = append(s.config, f[1]+" "+f[2])
		default:
			return nil, bad("unknown keyword %q", f[0])
		}
	}
	return s, sc.Err()
}

// debPackage is the data of one Debian package: its entries and its control fields.
type debPackage struct {
	Name    string
	Entries []entry
}

// expected builds the file system the spec describes from the packages' data.
func (s *contentsSpec) expected(pkgs map[string]debPackage) (map[string]entry, error) {
	want := map[string]entry{}
	status := func(name string) {
		for _, p := range []string{name, name + ".md5sums"} {
			p = "/var/lib/dpkg/status.d/" + p
			want[p] = entry{Path: p, Type: tar.TypeReg, Mode: 0o644, From: "status.d of " + name}
		}
	}
	for _, name := range s.packages {
		pkg, ok := pkgs[name]
		if !ok {
			return nil, fmt.Errorf("no data for package %s", name)
		}
		for _, e := range pkg.Entries {
			want[e.Path] = e
		}
		status(name)
	}
	for _, name := range s.metadata {
		status(name)
	}
	for _, e := range s.entries {
		want[e.Path] = e
	}
	// The root is every image's; the packages list it as "./".
	delete(want, "/")
	// Parents no entry names: what unpacking a layer creates.
	for p := range want {
		for d := path.Dir(p); d != "/"; d = path.Dir(d) {
			if _, ok := want[d]; ok {
				break
			}
			want[d] = entry{Path: d, Type: tar.TypeDir, Mode: 0o755, From: "parent of " + p}
		}
	}
	return want, nil
}

// compareContents lists every difference between the expected entries and the image's files.
func compareContents(want map[string]entry, got map[string]*hardening.File) []string {
	var diffs []string
	for _, p := range slices.Sorted(maps.Keys(want)) {
		w := want[p]
		g, ok := got[p]
		if !ok {
			diffs = append(diffs, fmt.Sprintf("missing  %s: want %s (%s)", p, w, w.From))
			continue
		}
		have := entry{Type: normType(g.Type), Mode: g.Mode &^ fs.ModeType, UID: g.UID, GID: g.GID, Link: g.Link}
		if have.Type != tar.TypeSymlink {
			have.Link = ""
		}
		if w.Type == tar.TypeSymlink {
			// A link's own mode means nothing.
			have.Mode, w.Mode = 0o777, 0o777
		}
		if have.Type != w.Type || have.Mode != w.Mode || have.UID != w.UID || have.GID != w.GID || have.Link != w.Link {
			diffs = append(diffs, fmt.Sprintf("differs  %s: want %s (%s), image has %s", p, w, w.From, have))
		}
	}
	for _, p := range slices.Sorted(maps.Keys(got)) {
		if _, ok := want[p]; !ok {
			diffs = append(diffs, fmt.Sprintf("extra    %s: %s, not in the list", p, entry{Type: normType(got[p].Type), Mode: got[p].Mode &^ fs.ModeType, UID: got[p].UID, GID: got[p].GID, Link: got[p].Link}))
		}
	}
	return diffs
}

func normType(t byte) byte {
	if t == tar.TypeRegA {
		return tar.TypeReg
	}
	return t
}

// compareConfig checks the config lines of the spec against the image's config.
func compareConfig(spec []string, c hardening.Image) []string {
	var diffs []string
	for _, l := range spec {
		key, val, _ := strings.Cut(l, " ")
		switch key {
		case "user":
			if c.Config.User != val {
				diffs = append(diffs, fmt.Sprintf("config   user %q, want %q", c.Config.User, val))
			}
		case "workdir":
			if c.Config.WorkingDir != val {
				diffs = append(diffs, fmt.Sprintf("config   workdir %q, want %q", c.Config.WorkingDir, val))
			}
		case "env":
			if !slices.Contains(c.Config.Env, val) {
				diffs = append(diffs, fmt.Sprintf("config   env %s missing (image: %s)", val, strings.Join(c.Config.Env, " ")))
			}
		}
	}
	return diffs
}

// controlField reads one field of a Debian control file.
func controlField(control []byte, field string) string {
	for line := range strings.SplitSeq(string(control), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// debEntries lists a .deb's data with dpkg-deb (Go reads the plain tar it writes).
func debEntries(ctx context.Context, deb string) ([]entry, error) {
	cmd := exec.CommandContext(ctx, "dpkg-deb", "--fsys-tarfile", deb)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("dpkg-deb (apt-get install dpkg): %w", err)
	}
	var es []entry
	tr := tar.NewReader(out)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			cmd.Wait()
			return nil, fmt.Errorf("%s: %w", deb, err)
		}
		p := path.Clean("/" + h.Name)
		es = append(es, entry{Path: p, Type: normType(h.Typeflag), Mode: h.FileInfo().Mode() &^ fs.ModeType,
			UID: h.Uid, GID: h.Gid, Link: h.Linkname, From: filepath.Base(deb)})
	}
	if err := cmd.Wait(); err != nil {
		return nil, fmt.Errorf("dpkg-deb --fsys-tarfile %s: %w: %s", deb, err, stderr.String())
	}
	return es, nil
}

// fetchPackage downloads NAME at the version and architecture the image's status.d records.
func fetchPackage(ctx context.Context, dir, name string, im *hardening.Image) (debPackage, error) {
	f := im.Files["/var/lib/dpkg/status.d/"+name]
	if f == nil {
		return debPackage{}, fmt.Errorf("the image has no /var/lib/dpkg/status.d/%s, so no version of %s to compare with", name, name)
	}
	version, arch := controlField(f.Head, "Version"), controlField(f.Head, "Architecture")
	if version == "" || arch == "" {
		return debPackage{}, fmt.Errorf("/var/lib/dpkg/status.d/%s names no Version or Architecture", name)
	}
	spec := name + "=" + version
	if arch != "all" {
		spec = name + ":" + arch + "=" + version
	}
	cmd := exec.CommandContext(ctx, "apt-get", "download", spec)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return debPackage{}, fmt.Errorf("apt-get download %s (the Debian archive, as for make bases; run apt-get update first if the version is newer than the lists): %w: %s", spec, err, out)
	}
	debs, _ := filepath.Glob(filepath.Join(dir, name+"_*.deb"))
	if len(debs) != 1 {
		return debPackage{}, fmt.Errorf("apt-get download %s left %d files", spec, len(debs))
	}
	es, err := debEntries(ctx, debs[0])
	return debPackage{Name: name, Entries: es}, err
}

// runStandin compares the distroless-static stand-in with the contents list its upstream is built
// from: `make standin-check`.
func runStandin(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("audit standin", flag.ContinueOnError)
	fs.SetOutput(stderr)
	root := fs.String("root", ".", "repository root")
	image := fs.String("image", "voting-offline/static:nonroot", "the stand-in image, in the engine")
	specPath := fs.String("spec", "deploy/offline/static/distroless-static.txt", "the contents list, relative to -root")
	docker := fs.String("docker", "docker", "the docker CLI")
	if err := fs.Parse(args); err != nil {
		return err
	}
	src, err := os.ReadFile(filepath.Join(*root, *specPath))
	if err != nil {
		return err
	}
	spec, err := parseContentsSpec(*specPath, src)
	if err != nil {
		return err
	}
	im, err := loadImage(ctx, *docker, *image)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "audit-standin-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	pkgs := map[string]debPackage{}
	for _, name := range spec.packages {
		p, err := fetchPackage(ctx, dir, name, im)
		if err != nil {
			return err
		}
		pkgs[name] = p
	}
	want, err := spec.expected(pkgs)
	if err != nil {
		return err
	}
	diffs := append(compareContents(want, im.Files), compareConfig(spec.config, *im)...)
	fmt.Fprintf(stdout, "%s against %s: %d entries expected, %d in the image\n", *image, *specPath, len(want), len(im.Files))
	if len(diffs) > 0 {
		for _, d := range diffs {
			fmt.Fprintln(stdout, "  "+d)
		}
		return fmt.Errorf("%s differs from %s in %d places", *image, *specPath, len(diffs))
	}
	fmt.Fprintf(stdout, "  the same: every path, type, mode, owner and link; user, workdir and env\n")
	return nil
}
