// Package servers runs private PostgreSQL and Redis servers from the machine's own binaries, in
// temporary directories on free loopback ports, for tests and benchmarks. It does not import
// testing: the benchmark driver, a program, uses it too. Package testkit wraps it for tests.
package servers

import (
	"fmt"
	"net"
	"syscall"
)

// ChildAttr runs a child process as cred (nil: as this process's user) and kills it when this
// process dies, so a crashed or interrupted run leaves no server behind.
func ChildAttr(cred *syscall.Credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}
}

// FreePort asks the kernel for a free loopback port.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
