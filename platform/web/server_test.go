package web

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestServeFailsAtOnceOnABusyPort(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = Serve(ctx, quiet, Lifecycle{},
		Server{Name: "free", Addr: "127.0.0.1:0", Handler: http.NotFoundHandler()},
		Server{Name: "busy", Addr: l.Addr().String(), Handler: http.NotFoundHandler()})
	if err == nil || !strings.Contains(err.Error(), "busy server") {
		t.Fatalf("want an error naming the busy server, got %v", err)
	}
	if ctx.Err() != nil {
		t.Fatal("Serve waited for the context instead of failing at once")
	}
}

// A request in flight when the stop signal arrives completes; the drain callback and the
// OnShutdown hook run; Serve returns nil.
func TestServeShutsDownGracefully(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{})
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		io.WriteString(w, "done")
	})
	var drained, hooked atomic.Bool
	logs := &lineCapture{}
	log := slog.New(slog.NewJSONHandler(logs, nil))
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		errc <- Serve(ctx, log, Lifecycle{Draining: func() { drained.Store(true) }, ShutdownTimeout: 5 * time.Second},
			Server{Name: "http", Addr: "127.0.0.1:0", Handler: handler, OnShutdown: func() { hooked.Store(true) }})
	}()
	addr := logs.waitAddr(t)

	type result struct {
		body string
		err  error
	}
	resc := make(chan result, 1)
	go func() {
		resp, err := http.Get("http://" + addr)
		if err != nil {
			resc <- result{err: err}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		resc <- result{body: string(b)}
	}()
	<-started
	cancel()
	time.Sleep(50 * time.Millisecond) // shutdown has begun; the request is still in flight
	close(release)
	if r := <-resc; r.err != nil || r.body != "done" {
		t.Fatalf("in-flight request: %q, %v", r.body, r.err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("Serve returned %v", err)
	}
	if !drained.Load() || !hooked.Load() {
		t.Fatalf("drain called %v, OnShutdown called %v", drained.Load(), hooked.Load())
	}
	if _, err := http.Get("http://" + addr); err == nil {
		t.Fatal("the server still accepts connections after shutdown")
	}
}

type lineCapture struct {
	mu    chan struct{}
	lines atomic.Value
}

func (l *lineCapture) Write(p []byte) (int, error) {
	prev, _ := l.lines.Load().(string)
	l.lines.Store(prev + string(p))
	return len(p), nil
}

func (l *lineCapture) waitAddr(t *testing.T) string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		s, _ := l.lines.Load().(string)
		if i := strings.Index(s, `"addr":"`); i >= 0 {
			rest := s[i+len(`"addr":"`):]
			return rest[:strings.Index(rest, `"`)]
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("no listening line")
	return ""
}
