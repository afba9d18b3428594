package main

import (
	"github.com/redis/go-redis/v9"

	"github.com/go-voting-app/voting-app/testkit/servers"
)

// The benchmarks' PostgreSQL and Redis servers are testkit's (servers.NewPostgres,
// servers.NewRedis), started with the settings a benchmark asks for; children run with
// servers.ChildAttr, so a crash or ^C of the benchmark leaves none behind.

func redisClient(s *servers.RedisServer) *redis.Client {
	opts, err := redis.ParseURL(s.URL())
	if err != nil {
		panic(err) // the server's own URL
	}
	opts.DisableIdentity = true
	return redis.NewClient(opts)
}
