// Package testenv gives tests real servers: PostgreSQL and Redis, either the ones named by
// TEST_POSTGRES_URL / TEST_REDIS_URL or private ones started from the local binaries in a temporary
// directory on free ports. Each test gets its own database and its own Redis key prefix, removed
// when it ends. A test that needs a server it cannot get fails and says how to get one.
//
// A package that uses the shared servers calls Main from TestMain, so they stop when its tests end:
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
package testenv

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// shared holds the servers a test binary starts once and stops in Main.
var shared struct {
	sync.Mutex
	main     bool
	postgres *PostgresServer
	redis    *RedisServer
	stops    []func()
}

// Main runs the package's tests, then stops the servers they started.
func Main(m *testing.M) {
	shared.Lock()
	shared.main = true
	shared.Unlock()
	code := m.Run()
	shared.Lock()
	for i := len(shared.stops) - 1; i >= 0; i-- {
		shared.stops[i]()
	}
	shared.Unlock()
	os.Exit(code)
}

func requireMain(t testing.TB) {
	t.Helper()
	if !shared.main {
		t.Fatal("testenv: this package must call testenv.Main(m) from TestMain so shared servers are stopped")
	}
}

// childAttr runs a server as cred (nil: as this process's user) and kills it when this process
// dies, so a crashed or interrupted test leaves no server behind.
func childAttr(cred *syscall.Credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}
}

// freePort asks the kernel for a free loopback port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
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
