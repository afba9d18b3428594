// Package queue is the Redis stream that carries votes from the vote service to the workers, and
// everything about it: how to connect, the names of its keys, the entry codec, appending (Stream),
// the consumer group's reads, acknowledgements, reclaims and trims, and the dead letters (Group).
// Nothing else in the project speaks this protocol.
package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/go-voting-app/voting-app/platform/config"
	"github.com/redis/go-redis/v9"
)

// Defaults for the stream's keys. The classic app's list is also called "votes", so the stream
// has its own name.
const (
	DefaultStream = "votes:stream"
	DefaultGroup  = "vote-workers"
)

// Config says how to reach Redis and which stream carries votes.
type Config struct {
	URL      string
	Username string
	Password config.Secret
	Stream   string
}

// ConfigFromEnv reads REDIS_URL, REDIS_USERNAME, REDIS_PASSWORD / REDIS_PASSWORD_FILE and VOTE_STREAM.
func ConfigFromEnv(env *config.Env) Config {
	return Config{
		URL:      env.String("REDIS_URL", "redis://redis:6379/0"),
		Username: env.String("REDIS_USERNAME", ""),
		Password: env.Secret("REDIS_PASSWORD"),
		Stream:   env.String("VOTE_STREAM", DefaultStream),
	}
}

// DeadLetters is the stream that receives the entries of stream that cannot be applied, each with
// the reason.
func DeadLetters(stream string) string { return stream + ":dead" }

// Open returns a client. Like the database pool it connects lazily: a service starts while Redis
// is down and reports not ready until it is back.
func Open(cfg Config, poolSize int) (*redis.Client, error) {
	opts, err := redis.ParseURL(cfg.URL)
	if err != nil {
		return nil, errors.New("REDIS_URL is not a valid redis:// or rediss:// URL")
	}
	if cfg.Username != "" {
		opts.Username = cfg.Username
	}
	if cfg.Password != "" {
		opts.Password = cfg.Password.Reveal()
	}
	opts.DialTimeout = 2 * time.Second
	opts.ReadTimeout = 2 * time.Second
	opts.WriteTimeout = 2 * time.Second
	// Blocking reads (XREADGROUP BLOCK) extend the read timeout by their own block time.
	opts.ContextTimeoutEnabled = true
	if poolSize > 0 {
		opts.PoolSize = poolSize
	}
	// No CLIENT SETINFO after connecting: servers before 7.2 answer it with an error that the
	// client would log on every new connection.
	opts.DisableIdentity = true
	return redis.NewClient(opts), nil
}

// Ping is a readiness check.
func Ping(rdb *redis.Client) func(context.Context) error {
	return func(ctx context.Context) error {
		if err := rdb.Ping(ctx).Err(); err != nil {
			return fmt.Errorf("redis: %w", err)
		}
		return nil
	}
}

// RouteClientLogs sends the Redis client library's own messages (it reports failed dials, for
// example) through the service's JSON logger at warn level, instead of unstructured lines on
// stderr. The library keeps one logger per process, so call this once, from run.
func RouteClientLogs(log *slog.Logger) {
	redis.SetLogger(clientLogger{log.With("component", "go-redis")})
}

type clientLogger struct{ log *slog.Logger }

func (l clientLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.WarnContext(ctx, fmt.Sprintf(format, v...))
}
