// Package testkit gives tests real servers and the waiting they need. PostgreSQL and Redis are
// either the ones named by TEST_POSTGRES_URL / TEST_REDIS_URL or private ones started from the
// local binaries (package servers) in a temporary directory on free ports. Each test gets its own
// database and its own Redis key prefix, removed when it ends. A test that needs a server it
// cannot get fails and says how to get one.
//
// A package that uses the shared servers calls Main from TestMain, so they stop when its tests end:
//
//	func TestMain(m *testing.M) { testkit.Main(m) }
//
// Nothing here is linked into a service binary: testkit is a module of its own, and a test
// (deps_test.go) checks that no service reaches it or the testing package.
package testkit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-voting-app/voting-app/testkit/servers"
	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

// shared holds the servers a test binary starts once and stops in Main.
var shared struct {
	sync.Mutex
	main     bool
	postgres *servers.PostgresServer
	redis    *servers.RedisServer
}

// Main runs the package's tests, then stops the servers they started.
func Main(m *testing.M) {
	shared.Lock()
	shared.main = true
	shared.Unlock()
	code := m.Run()
	shared.Lock()
	if shared.redis != nil {
		shared.redis.Close()
	}
	if shared.postgres != nil {
		shared.postgres.Close()
	}
	shared.Unlock()
	os.Exit(code)
}

func requireMain(t testing.TB) {
	t.Helper()
	if !shared.main {
		t.Fatal("testkit: this package must call testkit.Main(m) from TestMain so shared servers are stopped")
	}
}

// UniqueName returns a lowercase identifier unique to this test run, safe as a database name or a
// Redis key prefix: the test's name plus random bits.
func UniqueName(t testing.TB) string {
	var b [4]byte
	rand.Read(b[:])
	name := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			return r
		case r >= 'A' && r <= 'Z':
			return r + ('a' - 'A')
		}
		return '_'
	}, t.Name())
	if len(name) > 40 {
		name = name[:40]
	}
	return fmt.Sprintf("t_%s_%s", name, hex.EncodeToString(b[:]))
}

// Postgres returns the URL of a new, empty database for this test, dropped when the test ends.
func Postgres(t testing.TB) string {
	t.Helper()
	admin := os.Getenv("TEST_POSTGRES_URL")
	if admin == "" {
		requireMain(t)
		shared.Lock()
		if shared.postgres == nil {
			s, err := servers.NewPostgres(servers.PostgresSettings{})
			if err != nil {
				shared.Unlock()
				t.Fatalf("testkit: %v", err)
			}
			shared.postgres = s
		}
		admin = shared.postgres.AdminURL()
		shared.Unlock()
	}
	return createDatabase(t, admin)
}

func createDatabase(t testing.TB, adminURL string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		t.Fatalf("testkit: connect to PostgreSQL: %v (%s)", err, servers.InstallPostgres)
	}
	defer conn.Close(ctx)
	name := UniqueName(t)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("testkit: create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, adminURL)
		if err != nil {
			return // the server is gone (a test stopped it); its directory goes with it
		}
		defer conn.Close(ctx)
		conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	})
	dbURL, err := withDatabase(adminURL, name)
	if err != nil {
		t.Fatalf("testkit: %v", err)
	}
	return dbURL
}

// withDatabase swaps the database name in a postgres:// URL.
func withDatabase(raw, name string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", fmt.Errorf("TEST_POSTGRES_URL must be a postgres:// URL")
	}
	u.Path = "/" + name
	return u.String(), nil
}

// Redis returns the URL of a Redis server and a key prefix that belongs to this test alone. Keys
// under the prefix are deleted when the test ends.
func Redis(t testing.TB) (url, prefix string) {
	t.Helper()
	url = os.Getenv("TEST_REDIS_URL")
	if url == "" {
		requireMain(t)
		shared.Lock()
		if shared.redis == nil {
			s, err := servers.NewRedis(false)
			if err != nil {
				shared.Unlock()
				t.Fatalf("testkit: %v", err)
			}
			shared.redis = s
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

// PostgresServer is a private server for one test, which the test may stop and start again.
type PostgresServer struct{ *servers.PostgresServer }

// StartPostgres starts a private server for this test, stopped and removed when the test ends.
// Tests that take the database away use it; it always runs from the local binaries.
func StartPostgres(t testing.TB) PostgresServer {
	t.Helper()
	s, err := servers.NewPostgres(servers.PostgresSettings{})
	if err != nil {
		t.Fatalf("testkit: %v", err)
	}
	t.Cleanup(s.Close)
	return PostgresServer{s}
}

// URL returns the URL of a new database on this server for the test.
func (s PostgresServer) URL(t testing.TB) string {
	t.Helper()
	return createDatabase(t, s.AdminURL())
}

// Stop shuts the server down (fast shutdown: clients are disconnected).
func (s PostgresServer) Stop(t testing.TB) {
	t.Helper()
	if err := s.PostgresServer.Stop(); err != nil {
		t.Fatalf("testkit: stop postgres: %v", err)
	}
}

// Start starts the stopped server again on the same port with the same data.
func (s PostgresServer) Start(t testing.TB) {
	t.Helper()
	if err := s.PostgresServer.Start(); err != nil {
		t.Fatalf("testkit: restart postgres: %v", err)
	}
}

// RedisServer is a private server for one test, which the test may stop and start again.
type RedisServer struct{ *servers.RedisServer }

// StartRedis starts a private server for this test, stopped and removed when the test ends. With
// persist, it keeps its data across Stop and Start.
func StartRedis(t testing.TB, persist bool) RedisServer {
	t.Helper()
	s, err := servers.NewRedis(persist)
	if err != nil {
		t.Fatalf("testkit: %v", err)
	}
	t.Cleanup(s.Close)
	return RedisServer{s}
}

// Stop shuts the server down (SIGTERM: with persistence on, Redis flushes its append-only file).
func (s RedisServer) Stop(t testing.TB) {
	t.Helper()
	s.RedisServer.Stop()
}

// Start starts the stopped server again on the same port and directory.
func (s RedisServer) Start(t testing.TB) {
	t.Helper()
	if err := s.RedisServer.Start(); err != nil {
		t.Fatalf("testkit: restart redis: %v", err)
	}
}

// Eventually polls cond every 10 ms until it holds, failing the test with what after timeout.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Until polls check every 10 ms until it returns nil, failing the test after timeout with what and
// check's last error.
func Until(t testing.TB, timeout time.Duration, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s: %v", timeout, what, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
