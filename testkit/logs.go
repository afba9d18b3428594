package testkit

import (
	"bytes"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"
)

// Logs collects a program's JSON log lines (its stdout) so a test can wait for one, for example the
// "listening" line that gives the port a server picked.
type Logs struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	lines []map[string]any
	raw   []string
}

// Write implements io.Writer; safe for concurrent use.
func (l *Logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	for {
		line, err := l.buf.ReadString('\n')
		if err != nil {
			l.buf.WriteString(line) // incomplete: keep for the next write
			break
		}
		l.raw = append(l.raw, strings.TrimSpace(line))
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil {
			l.lines = append(l.lines, m)
		}
	}
	return len(p), nil
}

// Find returns the first line for which match is true.
func (l *Logs) Find(match func(map[string]any) bool) (map[string]any, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, m := range l.lines {
		if match(m) {
			return m, true
		}
	}
	return nil, false
}

// String returns everything logged so far.
func (l *Logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.raw, "\n")
}

// WaitFor waits up to timeout for a line matching match, failing the test with the log otherwise.
func (l *Logs) WaitFor(t testing.TB, timeout time.Duration, what string, match func(map[string]any) bool) map[string]any {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if m, ok := l.Find(match); ok {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s; log so far:\n%s", timeout, what, l.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// WaitAddr waits for the "listening" line of the named server and returns its address.
func (l *Logs) WaitAddr(t testing.TB, server string) string {
	t.Helper()
	m := l.WaitFor(t, 30*time.Second, "server "+server+" to listen", func(m map[string]any) bool {
		return m["msg"] == "listening" && m["server"] == server
	})
	addr, _ := m["addr"].(string)
	return addr
}
