package testenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

const installRedis = "install Redis (Debian: apt-get install redis-server) or set TEST_REDIS_URL " +
	"to a server such as redis://127.0.0.1:6379/0"

// Redis returns the URL of a Redis server and a key prefix that belongs to this test alone. Keys
// under the prefix are deleted when the test ends.
func Redis(t testing.TB) (url, prefix string) {
	t.Helper()
	url = os.Getenv("TEST_REDIS_URL")
	if url == "" {
		requireMain(t)
		shared.Lock()
		if shared.redis == nil {
			s, err := startRedis(false)
			if err != nil {
				shared.Unlock()
				t.Fatalf("testenv: %v", err)
			}
			shared.redis = s
			shared.stops = append(shared.stops, s.Close)
		}
		url = shared.redis.URL()
		shared.Unlock()
	}
	prefix = UniqueName(t) + ":"
	t.Cleanup(func() { deleteKeys(url, prefix) })
	return url, prefix
}

func deleteKeys(url, prefix string) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return
	}
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		rdb.Del(ctx, iter.Val())
	}
}

// RedisServer is a private Redis server a test can stop and start again. With persistence on, it
// keeps its data across a restart (append-only file), like the compose deployment.
type RedisServer struct {
	dir     string
	port    int
	persist bool
	cmd     *exec.Cmd
	done    chan error
}

// NewRedisServer starts a private server for a program that is not a test (a benchmark). The
// caller must Close it.
func NewRedisServer(persist bool) (*RedisServer, error) { return startRedis(persist) }

// Close stops the server and removes its files.
func (s *RedisServer) Close() {
	s.stop()
	os.RemoveAll(s.dir)
}

// PID is the server's process id.
func (s *RedisServer) PID() int { return s.cmd.Process.Pid }

// StartRedis starts a private server for this test, stopped and removed when the test ends.
func StartRedis(t testing.TB, persist bool) *RedisServer {
	t.Helper()
	s, err := startRedis(persist)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// URL returns the server's URL.
func (s *RedisServer) URL() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", s.port) }

// Stop shuts the server down (SIGTERM: with persistence on, Redis flushes its append-only file).
func (s *RedisServer) Stop(t testing.TB) {
	t.Helper()
	s.stop()
}

// Start starts a stopped server again on the same port and directory.
func (s *RedisServer) Start(t testing.TB) {
	t.Helper()
	if err := s.start(); err != nil {
		t.Fatalf("testenv: restart redis: %v", err)
	}
}

func startRedis(persist bool) (*RedisServer, error) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		return nil, errors.New("redis-server not found on PATH: " + installRedis)
	}
	dir, err := os.MkdirTemp("", "testenv-redis-")
	if err != nil {
		return nil, err
	}
	s := &RedisServer{dir: dir, persist: persist}
	if s.port, err = freePort(); err != nil {
		return nil, err
	}
	if err := s.start(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return s, nil
}

func (s *RedisServer) start() error {
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
		"--save", "", "--appendonly", aof, "--appendfsync", "always",
		"--daemonize", "no", "--protected-mode", "no")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = childAttr(nil)
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
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := rdb.Ping(ctx).Err()
		cancel()
		if err == nil {
			return nil
		}
		select {
		case werr := <-s.done:
			log, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
			return fmt.Errorf("redis-server exited at start (%v):\n%s", werr, log)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("redis-server did not answer within 20s: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *RedisServer) stop() {
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
