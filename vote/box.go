package main

import (
	"context"
	"fmt"
	"time"

	"github.com/go-voting-app/voting-app/platform/ballot"
	"github.com/redis/go-redis/v9"
)

// ballotBox puts votes on the Redis stream the workers read.
type ballotBox struct {
	rdb     *redis.Client
	stream  string
	timeout time.Duration // VOTE_TIMEOUT
	metrics *metrics
}

// Cast appends one vote to the stream. There is no MAXLEN: the stream may only lose entries the
// worker has acknowledged, and the worker trims those itself. A failure is reported as the queue
// being unavailable. It does not always mean the vote is missing: an XADD whose reply timed out
// may have landed. Voting again is the cure either way, since a voter's last vote wins.
func (b *ballotBox) Cast(ctx context.Context, voter ballot.VoterID, option string) error {
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	start := time.Now()
	err := b.rdb.XAdd(ctx, &redis.XAddArgs{
		Stream: b.stream,
		Values: ballot.EntryFields(voter, option, start),
	}).Err()
	b.metrics.observeXAdd(time.Since(start), err)
	if err != nil {
		return &unavailableError{fmt.Errorf("xadd %s (voter %s): %w", b.stream, ballot.Redact(string(voter)), err)}
	}
	b.metrics.cast(option)
	return nil
}
