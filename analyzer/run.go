package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/go-voting-app/voting-app/analyzer/llm"
	"github.com/go-voting-app/voting-app/platform/app"
	"github.com/go-voting-app/voting-app/platform/ballot"
	"github.com/go-voting-app/voting-app/platform/config"
	"github.com/go-voting-app/voting-app/platform/ops"
	"github.com/go-voting-app/voting-app/platform/postgres"
	"github.com/go-voting-app/voting-app/platform/web"
)

// run is the whole program; main and the tests call it.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	env := config.New(getenv)
	settings := app.SettingsFromEnv(env, ":8082")
	opts, optsErr := ballot.NewOptions(env.String("OPTION_A", ballot.DefaultLabelA), env.String("OPTION_B", ballot.DefaultLabelB))
	dbConfig := postgres.ConfigFromEnv(env, "analyzer", 10)
	queryTimeout := env.Duration("QUERY_TIMEOUT", 5*time.Second, 100*time.Millisecond, time.Minute)
	maxInflight := env.Int("MAX_INFLIGHT", 4, 1, 64)
	llmConfig := llm.ConfigFromEnv(env)
	llmInflight := env.Int("LLM_MAX_INFLIGHT", 2, 1, 64)
	llmPerMinute := env.Int("LLM_MAX_CALLS_PER_MINUTE", 30, 1, 10000)
	insightTTL := env.Duration("INSIGHT_CACHE_TTL", 30*time.Second, 0, time.Hour)
	if err := errors.Join(env.Err(), optsErr, llmConfig.Validate()); err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	if int(dbConfig.MaxConns) < maxInflight+2 {
		// Reading the data's version and the readiness check need connections of their own while
		// MAX_INFLIGHT computations hold theirs.
		return fmt.Errorf("configuration: DATABASE_MAX_CONNS (%d) must be at least MAX_INFLIGHT (%d) + 2", dbConfig.MaxConns, maxInflight)
	}

	log, err := app.NewLogger(stdout, "analyzer", settings.LogLevel)
	if err != nil {
		return err
	}
	app.LogStart(log)
	log.Info("configuration",
		"options", opts, "query_timeout", queryTimeout.String(), "insight_cache_ttl", insightTTL.String(),
		"llm_enabled", llmConfig.Enabled(), "llm_base_url", llmConfig.BaseURL, "llm_model", llmConfig.Model,
		"llm_api_key", llmConfig.APIKey, "llm_timeout", llmConfig.Timeout.String(), "llm_max_calls_per_minute", llmPerMinute)

	st, err := openStore(ctx, dbConfig, queryTimeout)
	if err != nil {
		return err
	}
	defer st.pool.Close()
	// Ready once the worker has created the schema: until then every query would fail.
	probe := ops.NewProbe(ops.Check{Name: "postgres", Fn: func(ctx context.Context) error {
		return postgres.SchemaReady(ctx, st.pool)
	}})

	reg := ops.NewRegistry("analyzer")
	metrics := web.NewMetrics(reg)
	llmMetrics := llm.NewMetrics(reg)
	var model *llm.Client
	if llmConfig.Enabled() {
		model = llm.New(llmConfig, http.DefaultTransport.(*http.Transport).Clone(), llmMetrics)
	}
	in := newInsights(log, model, insightConfig{CacheTTL: insightTTL, MaxInflight: llmInflight, MaxCallsPerMinute: llmPerMinute}, time.Now, reg)
	ans := newAnswers(log, st, time.Now, 250*time.Millisecond, maxInflight, reg)
	handler := newServer(log, metrics, st, ans, opts, in, time.Now)

	lc := settings.Lifecycle
	lc.Draining = probe.Drain
	return web.Serve(ctx, log, lc,
		web.Server{
			Name: "http", Addr: settings.HTTPAddr, Handler: handler,
			// An insight may wait for its queries and then for the model.
			WriteTimeout: queryTimeout + llmConfig.Timeout + 5*time.Second,
		},
		web.Server{Name: "ops", Addr: settings.OpsAddr, Handler: ops.Handler(probe, reg)},
	)
}
