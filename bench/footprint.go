package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// goServices in the order the footprint starts them: the worker migrates the schema the readers
// wait for.
var goServices = []string{"worker", "result", "analyzer", "vote"}

// composeProject is the footprint's own compose project, so it never touches a running demo.
const composeProject = "votingbench"

// compose is the container half of benchmark 5: each service's time from `docker compose up` to
// healthy, its memory in the container, and the image sizes. The resident sets of the processes
// are measured by the other sections.
func (b *bench) compose(ctx context.Context) error {
	fp := b.footprint
	fp.Images, fp.ImageSource = imageSizes(ctx, b.cfg.root, b.cfg.tag)
	if err := exec.CommandContext(ctx, "docker", "compose", "version").Run(); err != nil {
		fp.ComposeNote = "docker compose is not available: no start-to-healthy times"
		return errors.New(fp.ComposeNote)
	}
	for _, svc := range goServices {
		if err := exec.CommandContext(ctx, "docker", "image", "inspect", image(svc, b.cfg.tag)).Run(); err != nil {
			fp.ComposeNote = fmt.Sprintf("image %s is missing (make images)", image(svc, b.cfg.tag))
			return errors.New(fp.ComposeNote)
		}
	}
	// The stack makes its own secrets on its first start (the secrets-init service).
	if err := exec.CommandContext(ctx, "docker", "image", "inspect", image("secrets-init", b.cfg.tag)).Run(); err != nil {
		fp.ComposeNote = fmt.Sprintf("image %s is missing (make images)", image("secrets-init", b.cfg.tag))
		return errors.New(fp.ComposeNote)
	}

	dc := func(ctx context.Context, args ...string) ([]byte, error) {
		full := []string{"compose", "-p", composeProject}
		if b.cfg.composeEnv != "" {
			full = append(full, "--env-file", b.cfg.composeEnv)
		}
		cmd := exec.CommandContext(ctx, "docker", append(full, args...)...)
		cmd.Dir = b.cfg.root
		cmd.Env = append(os.Environ(), "TAG="+b.cfg.tag, "VOTE_PORT=0", "RESULT_PORT=0", "ANALYZER_PORT=0")
		out, err := cmd.CombinedOutput()
		if err != nil {
			return out, fmt.Errorf("docker compose %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out, nil
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer cancel()
		if _, err := dc(dctx, "down", "--volumes", "--remove-orphans", "--timeout", "5"); err != nil {
			b.logf("footprint: %v", err)
		}
	}()
	uctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	if _, err := dc(uctx, "up", "--detach", "--wait", "--no-build", "db", "redis"); err != nil {
		return err
	}
	fp.Healthy = map[string]float64{}
	fp.HealthEvery = "5s (docker-compose.yml; engine 20.10 runs the first check one interval after the start)"
	ids := map[string]string{}
	for _, svc := range goServices {
		start := time.Now()
		if _, err := dc(uctx, "up", "--detach", "--no-build", "--no-deps", svc); err != nil {
			return err
		}
		out, err := dc(uctx, "ps", "--quiet", svc)
		if err != nil {
			return err
		}
		id := strings.TrimSpace(string(out))
		ids[svc] = id
		for {
			out, err := exec.CommandContext(uctx, "docker", "inspect", "--format", "{{.State.Health.Status}}", id).Output()
			if err != nil {
				return fmt.Errorf("docker inspect %s: %w", svc, err)
			}
			status := strings.TrimSpace(string(out))
			if status == "healthy" {
				break
			}
			if status == "unhealthy" || time.Since(start) > 90*time.Second {
				return fmt.Errorf("%s: %s after %s", svc, status, time.Since(start).Round(time.Second))
			}
			time.Sleep(100 * time.Millisecond)
		}
		fp.Healthy[svc] = time.Since(start).Seconds()
		b.logf("footprint: %s healthy %.1fs after docker compose up", svc, fp.Healthy[svc])
	}
	time.Sleep(2 * time.Second)
	fp.Container = map[string]int64{}
	for svc, id := range ids {
		out, err := exec.CommandContext(ctx, "docker", "stats", "--no-stream", "--format", "{{.MemUsage}}", id).Output()
		if err != nil {
			continue
		}
		used, _, _ := strings.Cut(string(out), "/")
		if n, err := parseSize(strings.TrimSpace(used)); err == nil {
			fp.Container[svc] = n
		}
	}
	return nil
}

func image(svc, tag string) string { return "voting-app/" + svc + ":" + tag }

// imageSizes reads docs/sizes.md (written by make sizes) when it is there; otherwise it asks the
// engine for each image's size.
func imageSizes(ctx context.Context, root, tag string) (map[string]int64, string) {
	sizes := map[string]int64{}
	if f, err := os.Open(filepath.Join(root, "docs/sizes.md")); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			cells := strings.Split(sc.Text(), "|")
			if len(cells) < 4 {
				continue
			}
			svc := strings.TrimSpace(cells[1])
			for _, s := range goServices {
				if s == svc {
					if n, err := parseSize(strings.TrimSpace(cells[2])); err == nil {
						sizes[svc] = n
					}
				}
			}
		}
		if len(sizes) == len(goServices) {
			return sizes, "docs/sizes.md (make sizes), uncompressed"
		}
	}
	sizes = map[string]int64{}
	for _, svc := range goServices {
		out, err := exec.CommandContext(ctx, "docker", "image", "inspect", "--format", "{{.Size}}", image(svc, tag)).Output()
		if err != nil {
			continue
		}
		if n, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64); err == nil {
			sizes[svc] = n
		}
	}
	return sizes, "docker image inspect (" + image("<service>", tag) + "), uncompressed"
}

// parseSize reads "12.51 MiB", "3.5MiB", "980KiB", "1.2GiB", "512B" (binary units, as docker and
// docs/sizes.md write them; decimal kB/MB are taken as written).
func parseSize(s string) (int64, error) {
	s = strings.ReplaceAll(s, " ", "")
	units := []struct {
		suffix string
		mult   float64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"GB", 1e9}, {"MB", 1e6}, {"kB", 1e3}, {"B", 1}}
	for _, u := range units {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			v, err := strconv.ParseFloat(num, 64)
			if err != nil {
				return 0, fmt.Errorf("size %q", s)
			}
			return int64(v * u.mult), nil
		}
	}
	return 0, fmt.Errorf("size %q: no unit", s)
}

func httpGet(url string) ([]byte, error) {
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return io.ReadAll(resp.Body)
}
