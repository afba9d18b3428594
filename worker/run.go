package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"

	"github.com/go-voting-app/voting-app/platform/app"
	"github.com/go-voting-app/voting-app/platform/config"
	"github.com/go-voting-app/voting-app/platform/ops"
	"github.com/go-voting-app/voting-app/platform/postgres"
	"github.com/go-voting-app/voting-app/platform/postgres/migrations"
	"github.com/go-voting-app/voting-app/platform/queue"
	"github.com/go-voting-app/voting-app/platform/web"
	"golang.org/x/sync/errgroup"
)

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	// Configuration, read once.
	env := config.New(getenv)
	settings := app.SettingsFromEnv(env, "")
	dbCfg := postgres.ConfigFromEnv(env, "worker", 8)
	qCfg := queue.ConfigFromEnv(env)
	hostname, _ := os.Hostname()
	group := env.String("VOTE_GROUP", queue.DefaultGroup)
	consumerName := env.String("CONSUMER_NAME", hostname)
	legacyList := env.String("LEGACY_LIST", "")
	migrate := env.Bool("MIGRATE", true)
	cs := consumerSettings{
		BatchSize:   env.Int("BATCH_SIZE", 1000, 1, 10_000),
		Block:       env.Duration("BATCH_WAIT", 2*time.Second, 10*time.Millisecond, time.Minute),
		ClaimIdle:   env.Duration("CLAIM_IDLE", 30*time.Second, 10*time.Millisecond, time.Hour),
		ClaimEvery:  env.Duration("CLAIM_INTERVAL", 5*time.Second, 10*time.Millisecond, time.Hour),
		TrimEvery:   env.Duration("TRIM_INTERVAL", time.Second, 10*time.Millisecond, time.Hour),
		MaxBackoff:  env.Duration("MAX_BACKOFF", 5*time.Second, 10*time.Millisecond, 5*time.Minute),
		StallAfter:  env.Duration("STALL_AFTER", time.Minute, time.Second, 24*time.Hour),
		Concurrency: env.Int("CONCURRENCY", 2, 1, 64),
	}
	if cs.ClaimIdle < 3*cs.MaxBackoff {
		// A consumer renews its hold on a stuck batch between retries; retries further apart than
		// a third of CLAIM_IDLE would let other consumers take the batch over while it still waits.
		return fmt.Errorf("configuration: CLAIM_IDLE (%s) must be at least 3 × MAX_BACKOFF (%s)", cs.ClaimIdle, cs.MaxBackoff)
	}
	if consumerName == "" {
		return errors.New("CONSUMER_NAME: not set and the hostname is unknown")
	}
	if err := env.Err(); err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	log, err := app.NewLogger(stdout, "worker", settings.LogLevel)
	if err != nil {
		return err
	}
	app.LogStart(log)
	log.Info("consuming", "stream", qCfg.Stream, "group", group, "consumer", consumerName,
		"batch_size", cs.BatchSize, "concurrency", cs.Concurrency, "stall_after", cs.StallAfter.String(),
		"legacy_list", legacyList)

	// Dependencies. Both connect lazily: the worker starts while they are down.
	pool, err := postgres.Open(ctx, dbCfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	queue.RouteClientLogs(log)
	rdb, err := queue.Open(qCfg, cs.Concurrency*2+2)
	if err != nil {
		return err
	}
	defer rdb.Close()

	var migrated atomic.Bool
	h := newHealth(cs.StallAfter, time.Now())
	probe := ops.NewProbe(
		ops.Check{Name: "consumer", Fn: h.Check},
		ops.Check{Name: "redis", Fn: queue.Ping(rdb)},
		ops.Check{Name: "postgres", Fn: func(ctx context.Context) error {
			if err := pool.Ping(ctx); err != nil {
				return fmt.Errorf("postgres: %w", err)
			}
			if !migrated.Load() {
				return errors.New("schema migration not finished")
			}
			return nil
		}},
	)
	reg := ops.NewRegistry("worker")
	c := &consumer{
		stream: queue.NewGroup(rdb, queue.GroupConfig{
			Stream: qCfg.Stream, Group: group, Consumer: consumerName, Legacy: legacyList,
		}),
		store:  postgres.NewStore(pool),
		log:    log,
		m:      newMetrics(reg),
		cfg:    cs,
		health: h,
	}

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		settings.Lifecycle.Draining = probe.Drain
		return web.Serve(gctx, log, settings.Lifecycle,
			web.Server{Name: "ops", Addr: settings.OpsAddr, Handler: ops.Handler(probe, reg)})
	})
	g.Go(func() error {
		if migrate {
			err := c.retry(gctx, "postgres", nil, func(ctx context.Context) error {
				return migrations.Up(ctx, pool, log)
			})
			if err != nil {
				return nil // stopped before the database came up
			}
		}
		migrated.Store(true)
		log.Info("ready")
		err := c.Run(gctx)
		log.Info("consumer stopped")
		return err
	})
	return g.Wait()
}
