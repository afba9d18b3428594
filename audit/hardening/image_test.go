package hardening

import (
	"archive/tar"
	"bytes"
	"io"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// entry is one file of a test layer.
type entry struct {
	name string
	mode int64
	body string
	link string // symlink target
	typ  byte
	size int64 // for large files: written as zeros
}

func dir(name string, mode int64) entry { return entry{name: name, mode: mode, typ: tar.TypeDir} }
func file(name string, mode int64, body string) entry {
	return entry{name: name, mode: mode, body: body, typ: tar.TypeReg}
}
func symlink(name, target string) entry {
	return entry{name: name, link: target, mode: 0o777, typ: tar.TypeSymlink}
}

// layer builds a layer in memory, as a build step would leave it.
func layer(t *testing.T, entries ...entry) v1.Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: e.mode, Typeflag: e.typ, Linkname: e.link, Uid: 0, Gid: 0}
		if e.typ == tar.TypeReg {
			h.Size = int64(len(e.body)) + e.size
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if e.typ == tar.TypeReg {
			if _, err := io.WriteString(tw, e.body); err != nil {
				t.Fatal(err)
			}
			if _, err := io.CopyN(tw, zeros{}, e.size); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
	if err != nil {
		t.Fatal(err)
	}
	return l
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// The base layer of a distroless-like runtime: CA bundle, time zones, accounts, /tmp.
func baseEntries() []entry {
	return []entry{
		dir("etc/", 0o755), dir("etc/ssl/", 0o755), dir("etc/ssl/certs/", 0o755),
		file("etc/ssl/certs/ca-certificates.crt", 0o644, "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"),
		file("etc/passwd", 0o644, "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"),
		dir("usr/", 0o755), dir("usr/share/", 0o755), dir("usr/share/zoneinfo/", 0o755),
		file("usr/share/zoneinfo/UTC", 0o644, "TZif2\x00"), file("usr/share/zoneinfo/Europe/Berlin", 0o644, "TZif2\x00"),
		dir("tmp/", 0o1777), dir("var/", 0o755), dir("var/tmp/", 0o1777),
	}
}

func goodConfig() v1.Config {
	return v1.Config{
		User:        "65532:65532",
		Entrypoint:  []string{"/app"},
		Healthcheck: &v1.HealthConfig{Test: []string{"CMD", "/app", "healthcheck"}},
		Env:         []string{"PATH=/usr/local/bin:/usr/bin:/bin"},
		Labels: map[string]string{
			"org.opencontainers.image.source":   "https://example.com/app",
			"org.opencontainers.image.version":  "v1.2.3",
			"org.opencontainers.image.revision": "0123456789ab",
			"org.opencontainers.image.created":  "2026-01-02T03:04:05Z",
		},
	}
}

// image assembles an in-memory image: the base layer, the binary layer, extra layers, a config.
func image(t *testing.T, cfg v1.Config, layers ...v1.Layer) *Image {
	t.Helper()
	img, err := mutate.AppendLayers(empty.Image, layers...)
	if err != nil {
		t.Fatal(err)
	}
	if img, err = mutate.Config(img, cfg); err != nil {
		t.Fatal(err)
	}
	im, err := LoadImage("test/app:bad", img)
	if err != nil {
		t.Fatal(err)
	}
	return im
}

func goodLayers(t *testing.T) []v1.Layer {
	return []v1.Layer{layer(t, baseEntries()...), layer(t, file("app", 0o755, "\x7fELF\x02\x01\x01"))}
}

func testPolicy() Policy {
	p := DefaultPolicy()
	p.TargetSize, p.MaxSize, p.MaxLayers = 1*MiB, 2*MiB, 4
	return p
}

type imgCase struct {
	rule, name string
	cfg        func(*v1.Config)
	layers     func(t *testing.T) []v1.Layer // added after the good layers
	base       func(t *testing.T) []v1.Layer // replaces the good layers
	want       Status
}

func imageCases() []imgCase {
	add := func(entries ...entry) func(t *testing.T) []v1.Layer {
		return func(t *testing.T) []v1.Layer { return []v1.Layer{layer(t, entries...)} }
	}
	without := func(drop string) func(t *testing.T) []v1.Layer {
		return func(t *testing.T) []v1.Layer {
			var es []entry
			for _, e := range baseEntries() {
				if !strings.HasPrefix(e.name, drop) {
					es = append(es, e)
				}
			}
			return []v1.Layer{layer(t, es...), layer(t, file("app", 0o755, "\x7fELF"))}
		}
	}
	merged := func(name string) func(t *testing.T) []v1.Layer {
		// Debian's merged /usr: /bin is a link to usr/bin.
		return add(symlink("bin", "usr/bin"), dir("usr/bin/", 0o755), file("usr/bin/"+name, 0o755, "\x7fELF"))
	}
	return []imgCase{
		{rule: "IMG001", name: "no user", cfg: func(c *v1.Config) { c.User = "" }, want: Fail},
		{rule: "IMG001", name: "root", cfg: func(c *v1.Config) { c.User = "root" }, want: Fail},
		{rule: "IMG001", name: "uid 0", cfg: func(c *v1.Config) { c.User = "0:0" }, want: Fail},
		{rule: "IMG001", name: "a name", cfg: func(c *v1.Config) { c.User = "nonroot" }, want: Fail},
		{rule: "IMG002", name: "/bin/sh", layers: add(dir("bin/", 0o755), file("bin/sh", 0o755, "\x7fELF")), want: Fail},
		{rule: "IMG002", name: "bash through merged /usr", layers: merged("bash"), want: Fail},
		{rule: "IMG002", name: "busybox", layers: add(dir("bin/", 0o755), file("bin/busybox", 0o755, "\x7fELF"), symlink("bin/sh", "busybox")), want: Fail},
		{rule: "IMG003", name: "dpkg", layers: add(dir("usr/bin/", 0o755), file("usr/bin/dpkg", 0o755, "\x7fELF")), want: Fail},
		{rule: "IMG003", name: "apk", layers: add(dir("sbin/", 0o755), file("sbin/apk", 0o755, "\x7fELF")), want: Fail},
		{rule: "IMG003", name: "apt-get through merged /usr", layers: merged("apt-get"), want: Fail},
		{rule: "IMG004", name: "setuid", layers: add(dir("usr/bin/", 0o755), file("usr/bin/su", 0o4755, "\x7fELF")), want: Fail},
		{rule: "IMG004", name: "setgid", layers: add(dir("usr/bin/", 0o755), file("usr/bin/wall", 0o2755, "\x7fELF")), want: Fail},
		{rule: "IMG005", name: "world-writable directory", layers: add(dir("data/", 0o777)), want: Fail},
		{rule: "IMG005", name: "sticky outside the shared directories", layers: add(dir("data/", 0o1777)), want: Fail},
		{rule: "IMG005", name: "shared directory without the sticky bit", layers: add(dir("var/lock/", 0o777)), want: Fail},
		{rule: "IMG005", name: "/tmp without the sticky bit", layers: add(dir("tmp/", 0o777)), want: Fail},
		{rule: "IMG005", name: "world-writable file", layers: add(file("etc/app.conf", 0o666, "x")), want: Fail},
		{rule: "IMG005", name: "base-files' /var/tmp and /var/lock (1777), as distroless ships them", layers: add(dir("var/", 0o755), dir("var/tmp/", 0o1777), dir("var/lock/", 0o1777)), want: Pass},
		{rule: "IMG006", name: "no entrypoint", cfg: func(c *v1.Config) { c.Entrypoint = nil; c.Cmd = []string{"/app"} }, want: Fail},
		{rule: "IMG006", name: "shell-form entrypoint", cfg: func(c *v1.Config) { c.Entrypoint = []string{"/bin/sh", "-c", "/app"} }, want: Fail},
		{rule: "IMG006", name: "wrapper script", cfg: func(c *v1.Config) { c.Entrypoint = []string{"/entrypoint.sh"} },
			layers: add(file("entrypoint.sh", 0o755, "#!/bin/sh\nexec /app \"$@\"\n")), want: Fail},
		{rule: "IMG006", name: "entrypoint not in the image", cfg: func(c *v1.Config) { c.Entrypoint = []string{"/missing"} }, want: Fail},
		{rule: "IMG006", name: "entrypoint not executable", cfg: func(c *v1.Config) { c.Entrypoint = []string{"/data.bin"} },
			layers: add(file("data.bin", 0o644, "\x7fELF")), want: Fail},
		{rule: "IMG007", name: "no healthcheck", cfg: func(c *v1.Config) { c.Healthcheck = nil }, want: Fail},
		{rule: "IMG007", name: "NONE", cfg: func(c *v1.Config) { c.Healthcheck = &v1.HealthConfig{Test: []string{"NONE"}} }, want: Fail},
		{rule: "IMG007", name: "shell form", cfg: func(c *v1.Config) {
			c.Healthcheck = &v1.HealthConfig{Test: []string{"CMD-SHELL", "curl -f http://localhost/ || exit 1"}}
		}, want: Fail},
		{rule: "IMG007", name: "curl not in the image", cfg: func(c *v1.Config) {
			c.Healthcheck = &v1.HealthConfig{Test: []string{"CMD", "curl", "-f", "http://localhost/"}}
		}, want: Fail},
		{rule: "IMG008", name: "no labels", cfg: func(c *v1.Config) { c.Labels = nil }, want: Fail},
		{rule: "IMG008", name: "no revision", cfg: func(c *v1.Config) { delete(c.Labels, "org.opencontainers.image.revision") }, want: Fail},
		{rule: "IMG008", name: "not stamped", cfg: func(c *v1.Config) { c.Labels["org.opencontainers.image.version"] = "dev" }, want: Warn},
		{rule: "IMG009", name: "over the ceiling", layers: add(entry{name: "big", mode: 0o644, typ: tar.TypeReg, size: 3 * MiB}), want: Fail},
		{rule: "IMG009", name: "over the target", layers: add(entry{name: "big", mode: 0o644, typ: tar.TypeReg, size: MiB + 1}), want: Warn},
		{rule: "IMG010", name: "too many layers", layers: func(t *testing.T) []v1.Layer {
			var ls []v1.Layer
			for i := range 3 {
				ls = append(ls, layer(t, file("step"+string(rune('a'+i)), 0o644, "x")))
			}
			return ls
		}, want: Fail},
		{rule: "IMG011", name: "no CA bundle", base: without("etc/ssl"), want: Fail},
		{rule: "IMG011", name: "empty CA bundle", layers: add(file("etc/ssl/certs/ca-certificates.crt", 0o644, "")), want: Fail},
		{rule: "IMG012", name: "no zoneinfo", base: without("usr/share/zoneinfo"), want: Fail},
		{rule: "IMG013", name: "no passwd", base: without("etc/passwd"), want: Warn},
		{rule: "IMG013", name: "uid not in passwd", cfg: func(c *v1.Config) { c.User = "1000:1000" }, want: Warn},
		{rule: "IMG014", name: "go toolchain", layers: add(dir("usr/local/go/bin/", 0o755), file("usr/local/go/bin/go", 0o755, "\x7fELF")), want: Fail},
		{rule: "IMG014", name: "git", layers: add(dir("usr/bin/", 0o755), file("usr/bin/git", 0o755, "\x7fELF")), want: Fail},
	}
}

func TestImageGood(t *testing.T) {
	im := image(t, goodConfig(), goodLayers(t)...)
	for _, r := range CheckImage(im, testPolicy()) {
		if r.Status != Pass {
			t.Errorf("%s %s: %s %s", r.Rule, r.Title, r.Status, r.Detail)
		}
	}
}

func TestImageBad(t *testing.T) {
	for _, tc := range imageCases() {
		t.Run(tc.rule+"/"+tc.name, func(t *testing.T) {
			cfg := goodConfig()
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			layers := goodLayers(t)
			if tc.base != nil {
				layers = tc.base(t)
			}
			if tc.layers != nil {
				layers = append(layers, tc.layers(t)...)
			}
			r := result(t, CheckImage(image(t, cfg, layers...), testPolicy()), tc.rule)
			if r.Status != tc.want {
				t.Fatalf("%s: %s (%s), want %s", tc.rule, r.Status, r.Detail, tc.want)
			}
			t.Logf("%s %s: %s", r.Rule, r.Status, r.Detail)
		})
	}
}

// A file deleted by a later layer (a whiteout) is gone from the flattened file system, as in the
// container: a shell installed and removed again is not reported, though it still costs bytes.
func TestImageWhiteout(t *testing.T) {
	layers := append(goodLayers(t),
		layer(t, dir("bin/", 0o755), file("bin/sh", 0o755, "\x7fELF")),
		layer(t, file("bin/.wh.sh", 0o644, "")))
	im := image(t, goodConfig(), layers...)
	if r := result(t, CheckImage(im, testPolicy()), "IMG002"); r.Status != Pass {
		t.Errorf("IMG002 %s (%s), want pass once the shell is deleted", r.Status, r.Detail)
	}
}

func TestImageSizes(t *testing.T) {
	im := image(t, goodConfig(), goodLayers(t)...)
	if len(im.Layers) != 2 {
		t.Fatalf("%d layers, want 2", len(im.Layers))
	}
	var files int64
	for _, e := range baseEntries() {
		files += int64(len(e.body))
	}
	if got := im.Layers[0].Bytes; got != files {
		t.Errorf("base layer %d file bytes, want %d", got, files)
	}
	if got := im.Layers[0].TarBytes; got%512 != 0 || got <= files {
		t.Errorf("base layer tar %d bytes: want a multiple of 512 above the %d file bytes", got, files)
	}
	if f := im.EntrypointFile(); f == nil || f.Size != 7 {
		t.Errorf("entrypoint file %+v, want /app of 7 bytes", f)
	}
}

func TestLookup(t *testing.T) {
	im := image(t, goodConfig(), layer(t,
		dir("usr/", 0o755), dir("usr/bin/", 0o755), file("usr/bin/tool", 0o755, "x"),
		symlink("bin", "usr/bin"), symlink("usr/bin/alias", "tool"), symlink("usr/bin/abs", "/usr/bin/tool"),
		symlink("loop1", "loop2"), symlink("loop2", "loop1"), symlink("dangling", "nowhere"),
		entry{name: "usr/bin/hard", typ: tar.TypeLink, link: "usr/bin/tool"}))
	for p, want := range map[string]bool{
		"/usr/bin/tool": true, "/bin/tool": true, "/bin/alias": true, "/bin/abs": true, "/usr/bin/hard": true,
		"/usr/bin/../bin/tool": true, "/loop1": false, "/dangling": false, "/bin/missing": false,
	} {
		if got := im.regular(p) != nil; got != want {
			t.Errorf("regular(%q) found %v, want %v", p, got, want)
		}
	}
}
