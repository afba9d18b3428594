package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/go-voting-app/voting-app/platform/backoff"
	"github.com/go-voting-app/voting-app/platform/ballot"
	"github.com/go-voting-app/voting-app/platform/postgres"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// feedConfig tunes the listener. Zero values are not valid; run and the tests set every field.
type feedConfig struct {
	MinInterval  time.Duration // at most one tally query per MinInterval (TALLY_MIN_INTERVAL)
	Recheck      time.Duration // query at least this often even when nothing was heard (TALLY_RECHECK_INTERVAL)
	SchemaPoll   time.Duration // how often to look for the schema while it is missing
	QueryTimeout time.Duration // bound on one query, so a dead connection is noticed
	BackoffMin   time.Duration // first reconnect delay, doubled up to BackoffMax
	BackoffMax   time.Duration
}

// Reasons the feed is not ready, shown by /readyz.
var (
	errConnecting   = errors.New("connecting to postgres")
	errReconnecting = errors.New("no postgres connection; reconnecting")
)

// feed keeps the broker's tally current. It holds one dedicated connection per instance, LISTENs on
// postgres.TotalsChannel, and queries the tally on that same connection when the throttle says so;
// browsers are served from the broker, so the database sees one query per change per instance
// however many browsers watch.
type feed struct {
	log        *slog.Logger
	connConfig *pgx.ConnConfig
	opts       ballot.Options
	broker     *broker
	metrics    *metrics
	cfg        feedConfig

	mu       sync.Mutex
	notReady error // nil when listening with a current tally

	waited bool // the schema was found missing; only Run's goroutine touches it
}

// feedConnConfig returns the settings of the feed's connection. Every transaction on it is read
// only, on top of the role's own rights: the result service never writes.
func feedConnConfig(cfg postgres.Config) (*pgx.ConnConfig, error) {
	cfg.ReadOnly = true
	return postgres.ConnConfig(cfg)
}

// newFeed returns a feed that connects with connConfig (from feedConnConfig).
func newFeed(log *slog.Logger, connConfig *pgx.ConnConfig, opts ballot.Options, b *broker, m *metrics, cfg feedConfig) *feed {
	return &feed{log: log, connConfig: connConfig, opts: opts, broker: b, metrics: m, cfg: cfg, notReady: errConnecting}
}

// Ready is the /readyz check: nil while the feed is listening and has a current tally.
func (f *feed) Ready(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.notReady
}

func (f *feed) setReady(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.notReady = err
}

// Run listens until ctx is done, reconnecting with jittered exponential backoff whenever the
// connection fails.
func (f *feed) Run(ctx context.Context) {
	wait := backoff.Backoff{Min: f.cfg.BackoffMin, Max: f.cfg.BackoffMax}
	failures := 0
	for {
		listened, err := f.session(ctx, failures)
		if ctx.Err() != nil {
			return
		}
		if listened {
			wait.Reset()
			failures = 0
		}
		failures++
		f.metrics.reconnects.Inc()
		f.setReady(errReconnecting)
		// A warning when the trouble starts and every 20 attempts (minutes, at the longest delay)
		// while it lasts, so a long outage stays visible without a line a second.
		level := slog.LevelDebug
		if failures == 1 || failures%20 == 0 {
			level = slog.LevelWarn
		}
		f.log.Log(ctx, level, "tally listener has no postgres connection; reconnecting", "err", err, "failed_attempts", failures)
		if !wait.Wait(ctx) {
			return
		}
	}
}

// session is one connection's life: connect, LISTEN, wait for the schema, query, then answer
// notifications and re-checks until the connection fails or ctx ends. failures counts the
// attempts that failed before this one; listened reports whether it got as far as serving a
// tally, which resets the backoff.
func (f *feed) session(ctx context.Context, failures int) (listened bool, err error) {
	conn, err := pgx.ConnectConfig(ctx, f.connConfig)
	if err != nil {
		return false, fmt.Errorf("connect: %w", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		conn.Close(cctx)
	}()
	// LISTEN before the first query: a change committed in between is then either in the query's
	// result or announced afterwards, never lost.
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{postgres.TotalsChannel}.Sanitize()); err != nil {
		return false, fmt.Errorf("listen: %w", err)
	}
	if err := f.awaitSchema(ctx, conn); err != nil {
		return false, err
	}
	th := throttle{minInterval: f.cfg.MinInterval, recheck: f.cfg.Recheck}
	if err := f.refresh(ctx, conn, &th, triggerConnect); err != nil {
		return false, err
	}
	if failures > 0 {
		f.log.Info("listening for tally changes again", "channel", postgres.TotalsChannel, "failed_attempts", failures)
	} else {
		f.log.Info("listening for tally changes", "channel", postgres.TotalsChannel)
	}
	for {
		trigger, until := th.next(time.Now())
		if trigger != "" {
			if err := f.refresh(ctx, conn, &th, trigger); err != nil {
				return true, err
			}
			continue
		}
		wctx, cancel := context.WithDeadline(ctx, until)
		_, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil:
			f.metrics.notifications.Inc()
			if th.notify() {
				f.metrics.coalesced.Inc()
			}
		case ctx.Err() != nil:
			return true, ctx.Err()
		case pgconn.Timeout(err):
			// The deadline passed: a throttled query or a re-check is due. pgx keeps the
			// connection usable after a timed-out wait.
		default:
			return true, fmt.Errorf("wait for notification: %w", err)
		}
	}
}

// refresh queries the tally and the votes per interval of the last minutes, and publishes them.
func (f *feed) refresh(ctx context.Context, conn *pgx.Conn, th *throttle, trigger string) error {
	th.ran(time.Now())
	f.metrics.queries.WithLabelValues(trigger).Inc()
	qctx, cancel := context.WithTimeout(ctx, f.cfg.QueryTimeout)
	defer cancel()
	t, err := postgres.Tally(qctx, conn, f.opts)
	var recent []postgres.BucketVotes
	if err == nil {
		recent, err = postgres.RecentVotes(qctx, conn, chartSince(time.Now()))
	}
	if err != nil {
		f.metrics.queryErrors.Inc()
		return err
	}
	if f.broker.Publish(t, recent...) {
		f.metrics.tallyChanges.Inc()
	}
	f.setReady(nil)
	return nil
}

// awaitSchema returns once the tables exist. Until then the feed reports "schema not migrated yet"
// and looks again every SchemaPoll, quietly: a missing schema is the normal state of a fresh
// deployment until the worker has migrated it, not an error to log every second.
func (f *feed) awaitSchema(ctx context.Context, conn *pgx.Conn) error {
	for {
		qctx, cancel := context.WithTimeout(ctx, f.cfg.QueryTimeout)
		err := postgres.SchemaReady(qctx, conn)
		cancel()
		if err == nil {
			if f.waited {
				f.log.Info("schema ready")
				f.waited = false
			}
			return nil
		}
		if !errors.Is(err, postgres.ErrNoSchema) {
			return err
		}
		f.setReady(err)
		if !f.waited {
			f.log.Info("waiting for the schema; the worker migrates the database")
			f.waited = true
		}
		// Wait on the connection rather than sleeping, so a connection that dies meanwhile is
		// noticed at once.
		wctx, cancel := context.WithTimeout(ctx, f.cfg.SchemaPoll)
		_, err = conn.WaitForNotification(wctx)
		cancel()
		if err != nil && !pgconn.Timeout(err) {
			return fmt.Errorf("wait for schema: %w", err)
		}
	}
}
