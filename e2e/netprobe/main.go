// Command netprobe dials TCP addresses and prints, one JSON line per address in the order given,
// whether a connection was established. The end-to-end test runs it inside a service container's
// network namespace (docker create --network container:<id>), because the service images have no
// shell or tools to try a connection with.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"sync"
	"time"
)

type result struct {
	Addr  string `json:"addr"`
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

func main() {
	timeout := flag.Duration("timeout", 2*time.Second, "how long to wait for each connection")
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: netprobe [-timeout 2s] host:port...")
		os.Exit(2)
	}
	results := make([]result, flag.NArg())
	var wg sync.WaitGroup
	for i, addr := range flag.Args() {
		wg.Go(func() { results[i] = dial(addr, *timeout) })
	}
	wg.Wait()
	enc := json.NewEncoder(os.Stdout)
	for _, r := range results {
		enc.Encode(r)
	}
}

func dial(addr string, timeout time.Duration) result {
	conn, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return result{Addr: addr, Error: err.Error()}
	}
	conn.Close()
	return result{Addr: addr, OK: true}
}
