package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// runEmulate runs each released service's binary for a foreign platform under qemu user-mode
// emulation (Debian's qemu-user-static, called directly: binfmt_misc need not be set up): its
// version subcommand, then the service itself answering /livez over HTTP; the vote service also
// takes a vote into a real Redis server.
func runEmulate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("audit emulate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	root := fs.String("root", ".", "repository root")
	dir := fs.String("release", "out/release", "the release record, relative to -root")
	platform := fs.String("platform", "linux/arm64", "the platform to run")
	qemu := fs.String("qemu", "", "the qemu user-mode emulator (default: qemu-<arch>-static)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	rec, err := readReleaseRecord(filepath.Join(*root, *dir))
	if err != nil {
		return err
	}
	arch := map[string]string{"linux/arm64": "aarch64", "linux/arm/v7": "arm", "linux/amd64": "x86_64"}[*platform]
	if *qemu == "" {
		*qemu = "qemu-" + arch + "-static"
	}
	if _, err := exec.LookPath(*qemu); err != nil {
		return fmt.Errorf("%s not found (apt-get install qemu-user-static): %w", *qemu, err)
	}
	tmp, err := os.MkdirTemp("", "audit-emulate-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	redisAddr, stopRedis, err := startRedis(ctx, tmp)
	if err != nil {
		return err
	}
	defer stopRedis()
	var failed []string
	for _, svc := range slices.Sorted(maps.Keys(rec.images)) {
		bin := filepath.Join(tmp, svc)
		if err := pullBinary(ctx, rec.images[svc], *platform, bin); err != nil {
			return fmt.Errorf("%s: %w", svc, err)
		}
		out, err := exec.CommandContext(ctx, *qemu, bin, "version").CombinedOutput()
		version := strings.TrimSpace(string(out))
		if err != nil || !strings.Contains(version, rec.version) {
			failed = append(failed, fmt.Sprintf("%s: version under %s: %v %q", svc, *qemu, err, version))
			continue
		}
		fmt.Fprintf(stdout, "%-9s %s %s version: %s\n", svc, *platform, filepath.Base(*qemu), firstLine(version))
		if err := serveUnderEmulation(ctx, *qemu, bin, svc, redisAddr, stdout); err != nil {
			failed = append(failed, fmt.Sprintf("%s: %v", svc, err))
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("under emulation:\n  %s", strings.Join(failed, "\n  "))
	}
	fmt.Fprintf(stdout, "every %s binary of the release ran under emulation and answered\n", *platform)
	return nil
}

func firstLine(s string) string { l, _, _ := strings.Cut(s, "\n"); return l }

// pullBinary writes the entrypoint binary of ref's image for platform to path.
func pullBinary(ctx context.Context, ref, platform, path string) error {
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		return err
	}
	p, err := v1.ParsePlatform(platform)
	if err != nil {
		return err
	}
	img, err := remote.Image(r, remote.WithContext(ctx), remote.WithPlatform(*p))
	if err != nil {
		return err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	if cf.Architecture != p.Architecture {
		return fmt.Errorf("the index has no %s image (got %s)", platform, cf.Architecture)
	}
	b, err := readFile(img, cf.Config.Entrypoint[0])
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o755)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startRedis starts a private redis-server (Debian's) on a free loopback port.
func startRedis(ctx context.Context, dir string) (string, func(), error) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		return "", nil, fmt.Errorf("redis-server not found (apt-get install redis-server): %w", err)
	}
	port, err := freePort()
	if err != nil {
		return "", nil, err
	}
	cmd := exec.CommandContext(ctx, "redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", dir)
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	stop := func() { cmd.Process.Kill(); cmd.Wait() }
	for range 100 {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return addr, stop, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	stop()
	return "", nil, errors.New("redis-server did not start")
}

// serveUnderEmulation starts the service under qemu with loopback addresses, asks /livez, and for
// vote casts a vote and reads it back from the stream.
func serveUnderEmulation(ctx context.Context, qemu, bin, svc, redisAddr string, stdout io.Writer) error {
	opsPort, err := freePort()
	if err != nil {
		return err
	}
	httpPort, err := freePort()
	if err != nil {
		return err
	}
	// No database here: result, analyzer and worker stay alive and not ready, which is what they
	// do while Postgres is away. vote gets a real Redis.
	env := append(os.Environ(),
		"OPS_ADDR=127.0.0.1:"+strconv.Itoa(opsPort), "HTTP_ADDR=127.0.0.1:"+strconv.Itoa(httpPort),
		"REDIS_URL=redis://"+redisAddr+"/0", "DATABASE_URL=postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=1",
		"LOG_LEVEL=warn")
	cmd := exec.CommandContext(ctx, qemu, bin)
	cmd.Env = env
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() }()
	client := &http.Client{Timeout: 2 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	live := fmt.Sprintf("http://127.0.0.1:%d/livez", opsPort)
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := client.Get(live)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("/livez did not answer 200 within 60s under emulation: %v\n%s", err, logs.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	fmt.Fprintf(stdout, "%-9s GET /livez: 200\n", svc)
	if svc != "vote" {
		return nil
	}
	ready := fmt.Sprintf("http://127.0.0.1:%d/readyz", opsPort)
	for {
		resp, err := client.Get(ready)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("/readyz not ready with Redis at %s: %v\n%s", redisAddr, err, logs.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	resp, err := client.PostForm(fmt.Sprintf("http://127.0.0.1:%d/", httpPort), url.Values{"vote": {"a"}})
	if err != nil {
		return fmt.Errorf("POST /: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		return fmt.Errorf("POST / vote=a: %s, want 303\n%s", resp.Status, logs.String())
	}
	// The vote service appends to the stream's inbox list, which the workers move onto the stream
	// (platform/queue); with no worker here the vote waits in the inbox.
	_, port, _ := net.SplitHostPort(redisAddr)
	queued := 0
	for _, q := range [][]string{{"LLEN", "votes:stream:inbox"}, {"XLEN", "votes:stream"}} {
		out, err := exec.CommandContext(ctx, "redis-cli", append([]string{"-p", port}, q...)...).Output()
		if err != nil {
			return fmt.Errorf("redis-cli %s: %w", strings.Join(q, " "), err)
		}
		n, _ := strconv.Atoi(strings.TrimSpace(string(out)))
		queued += n
	}
	if queued != 1 {
		return fmt.Errorf("after the vote Redis holds %d queued votes (inbox and stream), want 1", queued)
	}
	fmt.Fprintf(stdout, "%-9s POST / vote=a: 303, and the vote is queued in Redis\n", svc)
	return nil
}
