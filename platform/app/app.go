// Package app is the shared entry point of every service binary: signals, the Go memory limit,
// the subcommands every image relies on (healthcheck, version) and the exit code.
package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/KimMachineGun/automemlimit/memlimit"
	"github.com/go-voting-app/voting-app/platform/buildinfo"
	"github.com/go-voting-app/voting-app/platform/config"
	"github.com/go-voting-app/voting-app/platform/ops"
)

// RunFunc is a service's whole program: it owns configuration, wiring and lifecycle, and returns
// when ctx is cancelled (SIGTERM/SIGINT) or on a fatal error. Tests call it directly.
type RunFunc func(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error

// DefaultOpsAddr is where every service serves /livez, /readyz and /metrics unless OPS_ADDR says
// otherwise. It is not published by compose.
const DefaultOpsAddr = ":9090"

// Main runs a service and exits. It handles:
//
//	SERVICE healthcheck   ask the running service's /readyz (exit 0 when ready): the image HEALTHCHECK
//	SERVICE version       print the build version
func Main(service string, run RunFunc) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := dispatch(ctx, service, run, os.Args, os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", service, err)
		os.Exit(1)
	}
}

func dispatch(ctx context.Context, service string, run RunFunc, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 1 {
		switch args[1] {
		case "healthcheck":
			return ops.Healthcheck(ctx, config.New(getenv).String("OPS_ADDR", DefaultOpsAddr), stdout)
		case "version":
			fmt.Fprintf(stdout, "%s %s (%s)\n", service, buildinfo.Version, buildinfo.Revision)
			return nil
		}
	}
	// GOMEMLIMIT from the container's cgroup memory limit (90%), unless GOMEMLIMIT is set: the GC
	// then works harder near the limit instead of the kernel OOM-killing the process. GOMAXPROCS
	// already follows the CPU limit since Go 1.25.
	memlimit.Set(memlimit.WithLogger(slog.New(slog.DiscardHandler)))
	return run(ctx, args, getenv, stdout, stderr)
}

// LogStart writes the first log line of a service: what build runs with which runtime limits.
func LogStart(log *slog.Logger) {
	log.Info("starting",
		"version", buildinfo.Version,
		"revision", buildinfo.Revision,
		"go", runtime.Version(),
		"gomaxprocs", runtime.GOMAXPROCS(0),
		"gomemlimit", debug.SetMemoryLimit(-1),
	)
}

// NewLogger returns the service's JSON logger. LOG_LEVEL is debug, info, warn or error.
func NewLogger(w io.Writer, service, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(strings.ToUpper(level))); err != nil {
		return nil, fmt.Errorf("LOG_LEVEL %q: want debug, info, warn or error", level)
	}
	h := slog.NewJSONHandler(w, &slog.HandlerOptions{Level: lv})
	return slog.New(h).With("service", service), nil
}
