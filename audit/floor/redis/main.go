// Floor of the vote service: go-redis, client_golang and net/http, each used once.
package main

import (
	"context"
	"net/http"
	"os"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"
)

func main() {
	rdb := redis.NewClient(&redis.Options{Addr: os.Getenv("REDIS_ADDR")})
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		os.Exit(1)
	}
	http.Handle("/metrics", promhttp.Handler())
	_ = http.ListenAndServe(os.Getenv("ADDR"), nil)
}
