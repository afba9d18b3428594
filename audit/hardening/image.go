package hardening

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

// Image is what the image rules read: the config and the flattened file system (mutate.Extract,
// whiteouts applied), plus per-layer sizes.
type Image struct {
	Ref    string
	Config v1.Config
	Layers []Layer
	Files  map[string]*File
}

// Layer is one layer's size.
type Layer struct {
	DiffID string
	// Bytes is the sum of the sizes of the regular files the layer holds: what the engine
	// reports as the size of an unpacked layer (docker image ls adds these up).
	Bytes int64
	// TarBytes is the length of the uncompressed layer tar (headers and padding included).
	TarBytes int64
}

// File is one entry of the flattened file system.
type File struct {
	Path string
	Type byte
	Mode fs.FileMode
	Size int64
	Link string
	UID  int
	GID  int
	// Head is the start of a regular file: enough for "#!" and "BEGIN CERTIFICATE"; all of a
	// small file under /etc.
	Head []byte
}

const (
	headBytes = 512
	// Files under /etc and package metadata are small and some are read whole (passwd, the
	// control files in /var/lib/dpkg/status.d).
	etcBytes = 64 << 10
)

// Size is the image's uncompressed size: the sum of its layers' file bytes.
func (im *Image) Size() int64 {
	var n int64
	for _, l := range im.Layers {
		n += l.Bytes
	}
	return n
}

// LoadImage reads an image's config, layers and flattened file system.
func LoadImage(ref string, img v1.Image) (*Image, error) {
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("%s: config: %w", ref, err)
	}
	im := &Image{Ref: ref, Config: cf.Config, Files: map[string]*File{}}
	layers, err := img.Layers()
	if err != nil {
		return nil, fmt.Errorf("%s: layers: %w", ref, err)
	}
	for _, l := range layers {
		diffID, err := l.DiffID()
		if err != nil {
			return nil, fmt.Errorf("%s: layer: %w", ref, err)
		}
		rc, err := l.Uncompressed()
		if err != nil {
			return nil, fmt.Errorf("%s: layer %s: %w", ref, diffID, err)
		}
		bytes, tarBytes, err := layerBytes(rc)
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: layer %s: %w", ref, diffID, err)
		}
		im.Layers = append(im.Layers, Layer{DiffID: diffID.String(), Bytes: bytes, TarBytes: tarBytes})
	}
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: flatten: %w", ref, err)
		}
		f := &File{Path: cleanPath(h.Name), Type: h.Typeflag, Mode: h.FileInfo().Mode(), Size: h.Size, Link: h.Linkname, UID: h.Uid, GID: h.Gid}
		if h.Typeflag == tar.TypeReg {
			n := int64(headBytes)
			if strings.HasPrefix(f.Path, "/etc/") || strings.HasPrefix(f.Path, "/var/lib/dpkg/status.d/") {
				n = etcBytes
			}
			head := make([]byte, min(h.Size, n))
			if _, err := io.ReadFull(tr, head); err != nil {
				return nil, fmt.Errorf("%s: read %s: %w", ref, f.Path, err)
			}
			f.Head = head
		}
		im.Files[f.Path] = f
	}
	// Unpacking creates the parents of an entry even when the tar has no entry for them.
	for p := range im.Files {
		for d := path.Dir(p); d != "/"; d = path.Dir(d) {
			if im.Files[d] != nil {
				break
			}
			im.Files[d] = &File{Path: d, Type: tar.TypeDir, Mode: fs.ModeDir | 0o755}
		}
	}
	return im, nil
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func layerBytes(r io.Reader) (files, total int64, err error) {
	cr := &countingReader{r: r}
	tr := tar.NewReader(cr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, 0, err
		}
		if h.Typeflag == tar.TypeReg {
			files += h.Size
		}
	}
	// The rest of the stream (end-of-archive blocks) belongs to the tar too.
	_, err = io.Copy(io.Discard, cr)
	return files, cr.n, err
}

func cleanPath(p string) string { return path.Clean("/" + p) }

// lookup resolves p in the image, following symbolic and hard links the way the kernel would
// inside the container. It returns nil when the path does not exist.
func (im *Image) lookup(p string) *File {
	parts := splitPath(p)
	cur, hops := "/", 0
	for len(parts) > 0 {
		name := parts[0]
		parts = parts[1:]
		switch name {
		case "", ".":
			continue
		case "..":
			cur = path.Dir(cur)
			continue
		}
		next := path.Join(cur, name)
		f := im.Files[next]
		switch {
		case f == nil:
			return nil
		case f.Type == tar.TypeSymlink:
			if hops++; hops > 40 {
				return nil
			}
			if path.IsAbs(f.Link) {
				cur = "/"
			}
			parts = append(splitPath(f.Link), parts...)
			continue
		case f.Type == tar.TypeLink && len(parts) == 0:
			// A hard link names a file by its path from the root of the image.
			return im.Files[cleanPath(f.Link)]
		}
		cur = next
	}
	return im.Files[cur]
}

func splitPath(p string) []string { return strings.Split(p, "/") }

// file returns the regular file at p (after links), or nil.
func (im *Image) regular(p string) *File {
	f := im.lookup(p)
	if f == nil || f.Type != tar.TypeReg {
		return nil
	}
	return f
}

var binDirs = []string{"/bin", "/sbin", "/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin"}

var shells = []string{"sh", "bash", "dash", "ash", "zsh", "ksh", "mksh", "csh", "tcsh", "fish", "busybox", "toybox"}

func isShell(cmd string) bool { return slices.Contains(shells, path.Base(cmd)) }

// findPrograms lists the executables named names in the usual directories (plus extra), each
// once, by the path that finds it.
func (im *Image) findPrograms(names []string, extra ...string) []string {
	seen := map[*File]bool{}
	var found []string
	for _, dir := range append(slices.Clone(binDirs), extra...) {
		for _, n := range names {
			p := path.Join(dir, n)
			if f := im.regular(p); f != nil && !seen[f] {
				seen[f] = true
				found = append(found, p)
			}
		}
	}
	return found
}

// which finds cmd like execve through PATH would: as given when it has a slash, else in PATH.
func (im *Image) which(cmd string) *File {
	if strings.Contains(cmd, "/") {
		return im.regular(path.Join("/", cmd))
	}
	pathEnv := "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	for _, e := range im.Config.Env {
		if v, ok := strings.CutPrefix(e, "PATH="); ok {
			pathEnv = v
		}
	}
	for dir := range strings.SplitSeq(pathEnv, ":") {
		if f := im.regular(path.Join(dir, cmd)); f != nil {
			return f
		}
	}
	return nil
}

func sortedPaths(m map[string]*File) []string {
	ps := make([]string, 0, len(m))
	for p := range m {
		ps = append(ps, p)
	}
	slices.Sort(ps)
	return ps
}

func list(items []string, most int) string {
	if len(items) <= most {
		return strings.Join(items, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(items[:most], ", "), len(items)-most)
}

// The anchors an image finding points at; a service resolves them to a file and line.
const (
	anchorBase        = "base"
	anchorUser        = "user"
	anchorEntrypoint  = "entrypoint"
	anchorHealthcheck = "healthcheck"
	anchorLabels      = "labels"
)

type imageRule struct {
	Rule
	check func(*Image, Policy) Finding
}

func imageRules() []imageRule {
	img := func(id, title, why, fix string, check func(*Image, Policy) Finding) imageRule {
		return imageRule{Rule{ID: id, Scope: ScopeImage, Title: title, Why: why, Fix: fix}, check}
	}
	return []imageRule{
		img("IMG001", "runs as a numeric non-root user",
			"root in the container is root on the host's kernel; a number is checkable without /etc/passwd",
			"USER 65532:65532 in the runtime stage",
			checkImageUser),
		img("IMG002", "no shell",
			"no shell means no `sh -c` for an attacker who gets code execution, and nothing to exec into",
			"a runtime base without a shell (distroless static, scratch)",
			checkNoShell),
		img("IMG003", "no package manager",
			"a package manager lets an intruder install tools, and its database draws scanner noise",
			"a runtime base without apt/dpkg/apk (distroless static, scratch)",
			checkNoPackageManager),
		img("IMG004", "no setuid/setgid files",
			"a setuid binary is a way back to root for any process in the container",
			"a runtime base without setuid programs; chmod u-s,g-s in the build",
			checkNoSetuid),
		img("IMG005", "nothing world-writable but the shared sticky directories",
			"a world-writable path lets any user plant files the service may read or run; only the directories every user shares (/tmp, /var/tmp, /var/lock, /run/lock) may be, and only with the sticky bit",
			"fix modes in the build stage (chmod o-w); keep scratch space to /tmp (mode 1777)",
			checkWorldWritable),
		img("IMG006", "entrypoint is the binary, exec form",
			"the binary as PID 1 gets SIGTERM and exits cleanly; a shell wrapper needs a shell and may swallow signals",
			`ENTRYPOINT ["/binary"]`,
			checkImageEntrypoint),
		img("IMG007", "healthcheck in the image",
			"every runtime (docker run, compose, swarm) knows the container's health without extra tools",
			`HEALTHCHECK CMD ["/binary", "healthcheck"]`,
			checkImageHealthcheck),
		img("IMG008", "OCI labels: source, version, revision, created",
			"tells which commit and version an image running somewhere came from",
			"LABEL org.opencontainers.image.{source,version,revision,created} from build args",
			checkLabels),
		img("IMG009", "size within budget",
			"every byte is pulled by every host and scanned for vulnerabilities; less is faster and safer",
			"a smaller base, a stripped binary, fewer dependencies",
			checkSize),
		img("IMG010", "few layers",
			"many layers point to a single-stage build or leftover steps in the runtime stage",
			"build in a builder stage; copy only the binary into the runtime stage",
			checkLayers),
		img("IMG011", "CA bundle present",
			"without it every outgoing TLS connection fails to verify",
			"a base with /etc/ssl/certs/ca-certificates.crt (distroless static has one; scratch has none)",
			checkCABundle),
		img("IMG012", "time zone data present",
			"time.LoadLocation fails without /usr/share/zoneinfo (unless the binary embeds time/tzdata)",
			"a base with tzdata (distroless static has it), or import _ \"time/tzdata\"",
			checkTZData),
		img("IMG013", "the user has a passwd entry",
			"without one the process has no name or home; harmless for a static Go binary, confusing for tools",
			"a base with /etc/passwd naming the user (distroless nonroot is 65532)",
			checkPasswd),
		img("IMG014", "no build toolchain",
			"a compiler in the runtime image lets an intruder build tools on the spot and adds hundreds of MiB",
			"multi-stage build: the toolchain stays in the builder stage",
			checkNoToolchain),
	}
}

// CheckImage runs the image rules.
func CheckImage(im *Image, p Policy) []Result {
	var out []Result
	for _, r := range imageRules() {
		f := r.check(im, p)
		out = append(out, Result{Rule: r.ID, Scope: r.Scope, Title: r.Title, Status: f.Status, Detail: f.Detail, Why: r.Why, Where: f.Anchor})
	}
	return out
}

func checkImageUser(im *Image, _ Policy) Finding {
	if p := userProblem(im.Config.User); p != "" {
		return fail("%s", p).near(anchorUser)
	}
	return pass("user %s", im.Config.User).near(anchorUser)
}

func checkNoShell(im *Image, _ Policy) Finding {
	if found := im.findPrograms(shells); len(found) > 0 {
		return fail("shell: %s", list(found, 4)).near(anchorBase)
	}
	return pass("no sh, bash, busybox or other shell").near(anchorBase)
}

var packageManagers = []string{"apt", "apt-get", "aptitude", "dpkg", "apk", "yum", "dnf", "microdnf", "rpm", "zypper", "pacman", "pip", "pip3", "npm", "gem"}

func checkNoPackageManager(im *Image, _ Policy) Finding {
	if found := im.findPrograms(packageManagers); len(found) > 0 {
		return fail("package manager: %s", list(found, 4)).near(anchorBase)
	}
	return pass("no apt, dpkg, apk or other package manager").near(anchorBase)
}

func checkNoSetuid(im *Image, _ Policy) Finding {
	var found []string
	for _, p := range sortedPaths(im.Files) {
		f := im.Files[p]
		if f.Type == tar.TypeReg && f.Mode&(fs.ModeSetuid|fs.ModeSetgid) != 0 {
			found = append(found, fmt.Sprintf("%s (%s)", p, f.Mode))
		}
	}
	if len(found) > 0 {
		return fail("%d setuid/setgid files: %s", len(found), list(found, 3)).near(anchorBase)
	}
	return pass("none among %d entries", len(im.Files)).near(anchorBase)
}

// sharedDirs are the directories the file-system hierarchy gives every user: world-writable with
// the sticky bit, so no one can remove or replace another's files. Debian's base-files ships
// /var/tmp and /var/lock that way, and distroless static keeps them as it ships them.
var sharedDirs = []string{"/tmp", "/var/tmp", "/var/lock", "/run/lock"}

// inShared reports whether p is inside one of the shared directories (their contents are
// scratch).
func inShared(p string) bool {
	for _, t := range sharedDirs {
		if strings.HasPrefix(p, t+"/") {
			return true
		}
	}
	return false
}

func checkWorldWritable(im *Image, _ Policy) Finding {
	var found, shared []string
	for _, p := range sortedPaths(im.Files) {
		f := im.Files[p]
		if f.Type == tar.TypeSymlink || inShared(p) || f.Mode.Perm()&0o002 == 0 {
			continue
		}
		if f.Type == tar.TypeDir && f.Mode&fs.ModeSticky != 0 && slices.Contains(sharedDirs, p) {
			shared = append(shared, p)
			continue
		}
		found = append(found, fmt.Sprintf("%s (%s)", p, f.Mode))
	}
	if len(found) > 0 {
		return fail("world-writable: %s", list(found, 3)).near(anchorBase)
	}
	if len(shared) == 0 {
		return pass("nothing").near(anchorBase)
	}
	return pass("only the shared sticky directories %s", strings.Join(shared, ", ")).near(anchorBase)
}

func checkImageEntrypoint(im *Image, _ Policy) Finding {
	ep := im.Config.Entrypoint
	if len(ep) == 0 {
		return fail("no entrypoint (cmd %q)", im.Config.Cmd).near(anchorEntrypoint)
	}
	if isShell(ep[0]) {
		return fail("entrypoint runs a shell: %q", ep).near(anchorEntrypoint)
	}
	f := im.which(ep[0])
	if f == nil {
		return fail("entrypoint %s is not a file in the image", ep[0]).near(anchorEntrypoint)
	}
	if f.Mode.Perm()&0o111 == 0 {
		return fail("entrypoint %s is not executable (%s)", ep[0], f.Mode).near(anchorEntrypoint)
	}
	if bytes.HasPrefix(f.Head, []byte("#!")) {
		line, _, _ := bytes.Cut(f.Head, []byte("\n"))
		return fail("entrypoint %s is a script (%s)", ep[0], line).near(anchorEntrypoint)
	}
	return pass("%q", ep).near(anchorEntrypoint)
}

func checkImageHealthcheck(im *Image, _ Policy) Finding {
	h := im.Config.Healthcheck
	switch {
	case h == nil || len(h.Test) == 0:
		return fail("no healthcheck").near(anchorHealthcheck)
	case h.Test[0] == "NONE":
		return fail("healthcheck disabled (NONE)").near(anchorHealthcheck)
	case h.Test[0] == "CMD-SHELL":
		return fail("healthcheck in shell form: %s", strings.Join(h.Test[1:], " ")).near(anchorHealthcheck)
	case len(h.Test) < 2:
		return fail("healthcheck without a command").near(anchorHealthcheck)
	case im.which(h.Test[1]) == nil:
		return fail("healthcheck command %s is not in the image", h.Test[1]).near(anchorHealthcheck)
	}
	return pass("%q every %s", h.Test[1:], h.Interval).near(anchorHealthcheck)
}

var requiredLabels = []string{"source", "version", "revision", "created"}

func checkLabels(im *Image, _ Policy) Finding {
	var missing, unstamped, got []string
	for _, l := range requiredLabels {
		v := im.Config.Labels["org.opencontainers.image."+l]
		switch v {
		case "":
			missing = append(missing, l)
		case "dev", "unknown":
			unstamped = append(unstamped, l+"="+v)
		default:
			got = append(got, l+"="+v)
		}
	}
	if len(missing) > 0 {
		return fail("missing org.opencontainers.image.{%s}", strings.Join(missing, ",")).near(anchorLabels)
	}
	if len(unstamped) > 0 {
		return warn("not stamped: %s (build with VERSION/REVISION set, e.g. make images)", strings.Join(unstamped, ", ")).near(anchorLabels)
	}
	return pass("%s", strings.Join(got, ", ")).near(anchorLabels)
}

func checkSize(im *Image, p Policy) Finding {
	size := im.Size()
	switch {
	case size > p.MaxSize:
		return fail("%s, over the %s ceiling", MiBs(size), MiBs(p.MaxSize)).near(anchorBase)
	case size > p.TargetSize:
		return warn("%s, over the %s target (ceiling %s)", MiBs(size), MiBs(p.TargetSize), MiBs(p.MaxSize)).near(anchorBase)
	}
	return pass("%s, within the %s target", MiBs(size), MiBs(p.TargetSize)).near(anchorBase)
}

// MiBs formats a byte count in MiB.
func MiBs(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/MiB) }

func checkLayers(im *Image, p Policy) Finding {
	if n := len(im.Layers); n > p.MaxLayers {
		return fail("%d layers, more than %d", n, p.MaxLayers).near(anchorBase)
	}
	return pass("%d layers", len(im.Layers)).near(anchorBase)
}

var caBundles = []string{"/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/cert.pem"}

func checkCABundle(im *Image, _ Policy) Finding {
	for _, p := range caBundles {
		if f := im.regular(p); f != nil {
			if !bytes.Contains(f.Head, []byte("BEGIN CERTIFICATE")) {
				return fail("%s holds no PEM certificate", p).near(anchorBase)
			}
			return pass("%s (%d KiB)", p, f.Size/1024).near(anchorBase)
		}
	}
	return fail("no CA bundle (%s)", strings.Join(caBundles, ", ")).near(anchorBase)
}

func checkTZData(im *Image, _ Policy) Finding {
	n := 0
	for p, f := range im.Files {
		if f.Type == tar.TypeReg && strings.HasPrefix(p, "/usr/share/zoneinfo/") {
			n++
		}
	}
	if utc := im.regular("/usr/share/zoneinfo/UTC"); utc == nil || !bytes.HasPrefix(utc.Head, []byte("TZif")) {
		return fail("no /usr/share/zoneinfo/UTC (%d zoneinfo files)", n).near(anchorBase)
	}
	return pass("/usr/share/zoneinfo: %d files", n).near(anchorBase)
}

func checkPasswd(im *Image, _ Policy) Finding {
	u := im.Config.User
	name, _, _ := strings.Cut(u, ":")
	if name == "" {
		name = "0"
	}
	uid, numeric := numericUser(u)
	f := im.regular("/etc/passwd")
	if f == nil {
		return warn("no /etc/passwd: user %s has no name or home", name).near(anchorBase)
	}
	for line := range strings.Lines(string(f.Head)) {
		fields := strings.Split(strings.TrimSpace(line), ":")
		if len(fields) < 6 {
			continue
		}
		if (numeric || name == "0") && fields[2] == fmt.Sprint(uid) || fields[0] == name {
			return pass("user %s is %s (uid %s), home %s", name, fields[0], fields[2], fields[5]).near(anchorBase)
		}
	}
	return warn("user %s is not in /etc/passwd", name).near(anchorBase)
}

var toolchain = []string{"go", "gcc", "cc", "c++", "g++", "clang", "make", "git", "ld"}

func checkNoToolchain(im *Image, _ Policy) Finding {
	if found := im.findPrograms(toolchain, "/usr/local/go/bin"); len(found) > 0 {
		return fail("build tools: %s", list(found, 4)).near(anchorBase)
	}
	return pass("no go, gcc, make or git").near(anchorBase)
}

// EntrypointFile is the file the container runs (the entrypoint, else the command), or nil.
func (im *Image) EntrypointFile() *File {
	switch {
	case len(im.Config.Entrypoint) > 0:
		return im.which(im.Config.Entrypoint[0])
	case len(im.Config.Cmd) > 0:
		return im.which(im.Config.Cmd[0])
	}
	return nil
}
