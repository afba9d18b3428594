package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/go-voting-app/voting-app/platform/app"
	"github.com/go-voting-app/voting-app/platform/ballot"
	"github.com/go-voting-app/voting-app/platform/config"
	"github.com/go-voting-app/voting-app/platform/ops"
	"github.com/go-voting-app/voting-app/platform/postgres"
	"github.com/go-voting-app/voting-app/platform/web"
)

// run is the whole program; see main.go. It returns when ctx is done and the servers have stopped.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	env := config.New(getenv)
	settings := app.SettingsFromEnv(env, ":8081")
	opts, optsErr := ballot.NewOptions(
		env.String("OPTION_A", ballot.DefaultLabelA),
		env.String("OPTION_B", ballot.DefaultLabelB),
	)
	// The service holds one connection of its own, no pool: the listener, which also runs the tally
	// query.
	dbConfig := postgres.ConfigFromEnv(env, "result", 0)
	feedCfg := feedConfig{
		MinInterval:  env.Duration("TALLY_MIN_INTERVAL", 250*time.Millisecond, 10*time.Millisecond, 10*time.Second),
		Recheck:      env.Duration("TALLY_RECHECK_INTERVAL", 10*time.Second, time.Second, time.Hour),
		SchemaPoll:   time.Second,
		QueryTimeout: 5 * time.Second,
		BackoffMin:   250 * time.Millisecond,
		BackoffMax:   15 * time.Second,
	}
	// As in the vote service: behind a proxy, the client is named by the proxy's header.
	addrs, addrsErr := web.ParseClientAddrs(env.String("TRUSTED_PROXIES", ""), env.String("CLIENT_IP_HEADER", "X-Forwarded-For"))
	streamCfg := streamConfig{
		Clients:      addrs,
		Heartbeat:    env.Duration("SSE_HEARTBEAT_INTERVAL", 15*time.Second, time.Second, 5*time.Minute),
		WriteTimeout: 10 * time.Second,
		Retry:        2 * time.Second,
	}
	maxStreams := env.Int("SSE_MAX_STREAMS", 10_000, 1, 1_000_000)
	// A page holds one stream; a household behind one address a few. 16 each leaves room for that
	// and keeps one client from shutting everyone else out of live updates.
	perClient := env.Int("SSE_MAX_STREAMS_PER_CLIENT", 16, 0, 1_000_000)
	if err := errors.Join(env.Err(), optsErr, addrsErr); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if feedCfg.Recheck < feedCfg.MinInterval {
		return fmt.Errorf("config: TALLY_RECHECK_INTERVAL (%s) must not be shorter than TALLY_MIN_INTERVAL (%s)", feedCfg.Recheck, feedCfg.MinInterval)
	}

	log, err := app.NewLogger(stdout, "result", settings.LogLevel)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	app.LogStart(log)
	log.Info("config",
		"options", opts,
		"tally_min_interval", feedCfg.MinInterval.String(),
		"tally_recheck_interval", feedCfg.Recheck.String(),
		"sse_heartbeat_interval", streamCfg.Heartbeat.String(),
		"sse_max_streams", maxStreams,
		"sse_max_streams_per_client", perClient,
		"clients", addrs,
	)

	connConfig, err := feedConnConfig(dbConfig)
	if err != nil {
		return err
	}
	u, err := loadUI()
	if err != nil {
		return err
	}

	reg := ops.NewRegistry("result")
	httpMetrics := web.NewMetrics(reg)
	m := newMetrics(reg)
	b := newBroker(maxStreams, perClient, m)
	f := newFeed(log, connConfig, opts, b, m, feedCfg)
	probe := ops.NewProbe(ops.Check{Name: "tally", Fn: f.Ready})

	// The feed outlives the stop signal until the servers are down, so streams still open while
	// draining keep getting updates.
	feedCtx, stopFeed := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Go(func() { f.Run(feedCtx) })
	defer func() {
		stopFeed()
		wg.Wait()
	}()

	lc := settings.Lifecycle
	lc.Draining = probe.Drain
	return web.Serve(ctx, log, lc,
		web.Server{
			Name:         "http",
			Addr:         settings.HTTPAddr,
			Handler:      newServer(log, httpMetrics, m, opts, b, u, streamCfg),
			WriteTimeout: 15 * time.Second,
			OnShutdown:   b.Close,
		},
		web.Server{Name: "ops", Addr: settings.OpsAddr, Handler: ops.Handler(probe, reg)},
	)
}
