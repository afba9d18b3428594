// Package web runs HTTP servers with production defaults and holds the middleware and JSON helpers
// every service shares.
package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// Server is one listening HTTP server of a service (the public one, the ops one).
type Server struct {
	Name    string // "http", "ops": shows in logs
	Addr    string // host:port; port 0 picks a free port (tests)
	Handler http.Handler
	// WriteTimeout bounds writing a response. Streaming handlers (SSE) extend it per write with
	// http.ResponseController.
	WriteTimeout time.Duration
	// OnShutdown runs when shutdown starts, so long-lived streams can end on their own instead of
	// holding shutdown until its deadline.
	OnShutdown func()
}

// Lifecycle settings shared by every server of a process.
type Lifecycle struct {
	// DrainDelay keeps serving (with readiness failing) for a moment after the stop signal, so load
	// balancers stop sending traffic before the listener closes.
	DrainDelay time.Duration
	// ShutdownTimeout bounds the wait for in-flight requests.
	ShutdownTimeout time.Duration
	// Draining is called when the stop signal arrives (readiness flips to "not ready").
	Draining func()
}

// Serve listens on every server's address first, so that a bad or busy port fails at once, then
// serves until ctx is done and shuts all servers down gracefully. It logs each listening address
// (with the real port when Addr ends in :0).
func Serve(ctx context.Context, log *slog.Logger, lc Lifecycle, servers ...Server) error {
	listeners := make([]net.Listener, 0, len(servers))
	closeAll := func() {
		for _, l := range listeners {
			l.Close()
		}
	}
	for _, s := range servers {
		l, err := net.Listen("tcp", s.Addr)
		if err != nil {
			closeAll()
			return fmt.Errorf("%s server: %w", s.Name, err)
		}
		listeners = append(listeners, l)
	}

	https := make([]*http.Server, len(servers))
	errc := make(chan error, len(servers))
	for i, s := range servers {
		wt := s.WriteTimeout
		if wt == 0 {
			wt = 15 * time.Second
		}
		hs := &http.Server{
			Handler:           s.Handler,
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       10 * time.Second,
			WriteTimeout:      wt,
			IdleTimeout:       60 * time.Second,
			MaxHeaderBytes:    16 << 10,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		}
		if s.OnShutdown != nil {
			hs.RegisterOnShutdown(s.OnShutdown)
		}
		https[i] = hs
		log.Info("listening", "server", s.Name, "addr", listeners[i].Addr().String())
		go func(l net.Listener) {
			if err := hs.Serve(l); !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("%s server: %w", s.Name, err)
			}
		}(listeners[i])
	}

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}

	if lc.Draining != nil {
		lc.Draining()
	}
	if serveErr == nil && lc.DrainDelay > 0 {
		log.Info("draining before shutdown", "delay", lc.DrainDelay.String())
		time.Sleep(lc.DrainDelay)
	}
	timeout := lc.ShutdownTimeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	var wg sync.WaitGroup
	shutdownErrs := make([]error, len(https))
	for i, hs := range https {
		wg.Go(func() {
			if err := hs.Shutdown(sctx); err != nil {
				shutdownErrs[i] = fmt.Errorf("%s server shutdown: %w", servers[i].Name, err)
				hs.Close()
			}
		})
	}
	wg.Wait()
	log.Info("servers stopped")
	return errors.Join(append([]error{serveErr}, shutdownErrs...)...)
}
