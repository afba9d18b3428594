package main

import (
	"fmt"
	"net"
	"syscall"

	"github.com/go-voting-app/voting-app/platform/testenv"
	"github.com/redis/go-redis/v9"
)

// The benchmarks' PostgreSQL and Redis servers are platform/testenv's, started outside a test
// (testenv.NewPostgresServer, testenv.NewRedisServer) with the settings a benchmark asks for.

func redisClient(s *testenv.RedisServer) *redis.Client {
	opts, err := redis.ParseURL(s.URL())
	if err != nil {
		panic(err) // testenv's own URL
	}
	opts.DisableIdentity = true
	return redis.NewClient(opts)
}

// childAttr makes a child die with the benchmark (a crash or ^C leaves no server behind) and run
// with the given credentials, if any.
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
