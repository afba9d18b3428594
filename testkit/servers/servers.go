// Package servers runs private PostgreSQL and Redis servers from the machine's own binaries, in
// temporary directories on free loopback ports, for tests and benchmarks. It does not import
// testing: the benchmark driver, a program, uses it too. Package testkit wraps it for tests.
package servers

import (
	"context"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"
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

// awaitStart polls ready until the server answers. A server that exits first is reported with its
// log; one that does not answer within timeout, with the last error.
func awaitStart(name string, exited <-chan error, logPath string, timeout time.Duration, ready func(context.Context) error) error {
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := ready(ctx)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case werr := <-exited:
			log, _ := os.ReadFile(logPath)
			return fmt.Errorf("%s exited at start (%v):\n%s", name, werr, log)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not answer within %s: %v", name, timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
