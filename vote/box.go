package main

import (
	"context"
	"fmt"
	"time"

	"github.com/go-voting-app/voting-app/platform/ballot"
	"github.com/go-voting-app/voting-app/platform/queue"
)

// ballotBox puts votes on the stream the workers read.
type ballotBox struct {
	stream  *queue.Stream
	timeout time.Duration // VOTE_TIMEOUT
	metrics *metrics
}

// Cast appends one vote to the stream. A failure is reported as the queue being unavailable; it
// does not always mean the vote is missing (see queue.Stream.Append), and voting again is the cure
// either way.
func (b *ballotBox) Cast(ctx context.Context, voter ballot.VoterID, option string) error {
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	start := time.Now()
	_, err := b.stream.Append(ctx, queue.Cast{Voter: voter, Option: option, At: start})
	b.metrics.observeXAdd(time.Since(start), err)
	if err != nil {
		return &unavailableError{fmt.Errorf("voter %s: %w", ballot.Redact(string(voter)), err)}
	}
	b.metrics.cast(option)
	return nil
}
