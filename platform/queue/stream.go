package queue

import (
	"context"
	"fmt"

	"github.com/go-voting-app/voting-app/platform/ballot"
	"github.com/redis/go-redis/v9"
)

// Stream is the votes stream as the vote service sees it: the place votes are appended to.
type Stream struct {
	rdb *redis.Client
	key string
}

// NewStream returns the stream at key.
func NewStream(rdb *redis.Client, key string) *Stream { return &Stream{rdb: rdb, key: key} }

// Key is the stream's key.
func (s *Stream) Key() string { return s.key }

// Append adds one entry per cast, in order, in one round trip, and returns the positions Redis
// gave them. There is no MAXLEN: the stream may only lose entries the workers have acknowledged,
// and they trim those themselves. An error does not always mean a vote is missing: an XADD whose
// reply was lost may have landed. Voting again is the cure either way, since a voter's last vote
// wins.
func (s *Stream) Append(ctx context.Context, casts ...Cast) ([]ballot.Position, error) {
	if len(casts) == 1 { // the vote service's case: no pipeline to build
		id, err := s.rdb.XAdd(ctx, &redis.XAddArgs{Stream: s.key, Values: casts[0].values()}).Result()
		if err != nil {
			return nil, fmt.Errorf("xadd %s: %w", s.key, err)
		}
		pos, err := ParseID(id)
		if err != nil {
			return nil, fmt.Errorf("xadd %s: %w", s.key, err)
		}
		return []ballot.Position{pos}, nil
	}
	cmds := make([]*redis.StringCmd, len(casts))
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, c := range casts {
			cmds[i] = p.XAdd(ctx, &redis.XAddArgs{Stream: s.key, Values: c.values()})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("xadd %s: %w", s.key, err)
	}
	out := make([]ballot.Position, len(cmds))
	for i, c := range cmds {
		if out[i], err = ParseID(c.Val()); err != nil {
			return nil, fmt.Errorf("xadd %s: %w", s.key, err)
		}
	}
	return out, nil
}
