package servers

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// InstallRedis says how to get the server binary.
const InstallRedis = "install Redis (Debian: apt-get install redis-server) or set TEST_REDIS_URL " +
	"to a server such as redis://127.0.0.1:6379/0"

// RedisServer is a private Redis server a test can stop and start again. With persistence on, it
// keeps its data across a restart (append-only file), like the compose deployment.
type RedisServer struct {
	dir     string
	port    int
	persist bool
	fsync   string
	cmd     *exec.Cmd
	done    chan error
}

// Close stops the server and removes its files.
func (s *RedisServer) Close() {
	s.Stop()
	os.RemoveAll(s.dir)
}

// PID is the server's process id.
func (s *RedisServer) PID() int { return s.cmd.Process.Pid }

// URL returns the server's URL.
func (s *RedisServer) URL() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", s.port) }

// NewRedis starts a server on a free loopback port, in a temporary directory. With persist, it
// keeps its data across a restart (append-only file, fsync on every write), like the compose
// deployment. The caller must Close it.
func NewRedis(persist bool) (*RedisServer, error) {
	fsync := ""
	if persist {
		fsync = "always"
	}
	return NewRedisFsync(fsync)
}

// NewRedisFsync is NewRedis with an append-only file synced as fsync says: "always" (before every
// reply) or "everysec" (once a second; a crash may lose the last second); "" for no file at all.
func NewRedisFsync(fsync string) (*RedisServer, error) {
	persist := fsync != ""
	if _, err := exec.LookPath("redis-server"); err != nil {
		return nil, errors.New("redis-server not found on PATH: " + InstallRedis)
	}
	dir, err := os.MkdirTemp("", "testkit-redis-")
	if err != nil {
		return nil, err
	}
	s := &RedisServer{dir: dir, persist: persist, fsync: fsync}
	if s.port, err = FreePort(); err != nil {
		return nil, err
	}
	if err := s.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return s, nil
}

// Start starts a stopped server again on the same port and directory.
func (s *RedisServer) Start() error {
	aof := "no"
	if s.persist {
		aof = "yes"
	}
	logf, err := os.OpenFile(filepath.Join(s.dir, "redis.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command("redis-server",
		"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1", "--dir", s.dir,
		"--save", "", "--appendonly", aof, "--appendfsync", cmp.Or(s.fsync, "always"),
		"--daemonize", "no", "--protected-mode", "no")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = ChildAttr(nil)
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start redis-server: %w", err)
	}
	s.cmd = cmd
	s.done = make(chan error, 1)
	go func() { s.done <- cmd.Wait(); logf.Close() }()

	opts, _ := redis.ParseURL(s.URL())
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	return awaitStart("redis-server", s.done, filepath.Join(s.dir, "redis.log"), 20*time.Second, func(ctx context.Context) error {
		return rdb.Ping(ctx).Err()
	})
}

// Stop shuts the server down (SIGTERM: with persistence on, Redis flushes its append-only file).
func (s *RedisServer) Stop() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(20 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd = nil
}
