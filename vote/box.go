package main

import (
	"context"
	"fmt"
	"time"

	"github.com/go-voting-app/voting-app/platform/ballot"
	"github.com/go-voting-app/voting-app/platform/queue"
)

// ballotBox puts votes on the inbox the workers move onto the stream.
type ballotBox struct {
	inbox   *queue.Inbox
	timeout time.Duration // VOTE_TIMEOUT
	metrics *metrics
}

// Cast appends one vote to the inbox. A failure is reported as the queue being unavailable; it
// does not always mean the vote is missing (see queue.Inbox.Cast), and voting again is the cure
// either way.
func (b *ballotBox) Cast(ctx context.Context, voter ballot.VoterID, option string) error {
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	start := time.Now()
	err := b.inbox.Cast(ctx, queue.Cast{Voter: voter, Option: option, At: start})
	b.metrics.observeAppend(time.Since(start), err)
	if err != nil {
		return &unavailableError{fmt.Errorf("voter %s: %w", ballot.Redact(string(voter)), err)}
	}
	b.metrics.cast(option)
	return nil
}
