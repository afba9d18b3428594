package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"time"

	"github.com/go-voting-app/voting-app/platform/app"
	"github.com/go-voting-app/voting-app/platform/ballot"
	"github.com/go-voting-app/voting-app/platform/config"
	"github.com/go-voting-app/voting-app/platform/ops"
	"github.com/go-voting-app/voting-app/platform/queue"
	"github.com/go-voting-app/voting-app/platform/web"
)

// run is the whole program; main and the end-to-end test call it.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	env := config.New(getenv)
	settings := app.SettingsFromEnv(env, ":8080")
	qcfg := queue.ConfigFromEnv(env)
	opts, optsErr := ballot.NewOptions(
		env.String("OPTION_A", ballot.DefaultLabelA),
		env.String("OPTION_B", ballot.DefaultLabelB),
	)
	// How long a vote may wait for Redis before the voter is told to try again: long enough for a
	// busy server, short enough that a dead one gives a quick, clear 503.
	voteTimeout := env.Duration("VOTE_TIMEOUT", time.Second, 100*time.Millisecond, 10*time.Second)
	// Behind a proxy that terminates TLS the request arrives in plain HTTP, so r.TLS cannot tell
	// that the browser used HTTPS: COOKIE_SECURE=true marks the cookies Secure anyway.
	cookies := cookiePolicy{alwaysSecure: env.Bool("COOKIE_SECURE", false)}
	// Votes per second per client address, and how many at once. The defaults only stop floods:
	// they let the demo's seed and the load tool through from a single address (a container, or
	// every client of the host behind Docker's port proxy). Behind a proxy, set TRUSTED_PROXIES so
	// that clients are told apart, and a human-scale limit.
	rateLimit := env.Int("VOTE_RATE_LIMIT", 1000, 0, 1_000_000)
	rateBurst := env.Int("VOTE_RATE_BURST", 5000, 1, 1_000_000)
	addrs, addrsErr := web.ParseClientAddrs(env.String("TRUSTED_PROXIES", ""), env.String("CLIENT_IP_HEADER", "X-Forwarded-For"))
	if err := errors.Join(env.Err(), optsErr, addrsErr); err != nil {
		return fmt.Errorf("config: %w", err)
	}

	log, err := app.NewLogger(stdout, "vote", settings.LogLevel)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	app.LogStart(log)
	hostname, err := os.Hostname()
	if err != nil {
		hostname = "unknown"
	}
	log.Info("config",
		"option_a", opts[0].Label, "option_b", opts[1].Label,
		"redis", redactURL(qcfg.URL), "stream", qcfg.Stream,
		"vote_timeout", voteTimeout.String(), "cookie_secure", cookies.alwaysSecure,
		"rate_limit", rateLimit, "rate_burst", rateBurst, "clients", addrs, "hostname", hostname)

	queue.RouteClientLogs(log)
	rdb, err := queue.Open(qcfg, 0)
	if err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	defer rdb.Close()

	probe := ops.NewProbe(ops.Check{Name: "redis", Fn: queue.Ping(rdb)})
	reg := ops.NewRegistry("vote")
	httpMetrics := web.NewMetrics(reg)
	metrics := newMetrics(reg, opts)
	box := &ballotBox{inbox: queue.NewInbox(rdb, qcfg.Stream), timeout: voteTimeout, metrics: metrics}
	limiter := newClientLimiter(rateLimit, rateBurst, addrs, time.Now)
	metrics.watch(reg, limiter)

	handler := newServer(log, httpMetrics, metrics, opts, box, cookies, limiter, hostname)

	lc := settings.Lifecycle
	lc.Draining = probe.Drain
	return web.Serve(ctx, log, lc,
		web.Server{Name: "http", Addr: settings.HTTPAddr, Handler: handler},
		web.Server{Name: "ops", Addr: settings.OpsAddr, Handler: ops.Handler(probe, reg)},
	)
}

// redactURL hides the password a REDIS_URL may carry, so the URL can be logged.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable)"
	}
	return u.Redacted()
}
