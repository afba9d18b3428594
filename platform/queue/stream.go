package queue

import (
	"context"
	"errors"
	"fmt"
	"strings"

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

// Create makes an empty stream at the key, without a consumer group, if there is none: for tools
// that fill a stream themselves (benchmarks). The app's stream is created by Group.EnsureGroup,
// which sets its floor; Append never creates one.
func (s *Stream) Create(ctx context.Context) error {
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.XGroupCreateMkStream(ctx, s.key, "create", "$")
		p.XGroupDestroy(ctx, s.key, "create")
		return nil
	})
	if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
		return fmt.Errorf("create stream %s: %w", s.key, err)
	}
	return nil
}

// ErrNoStream means the stream does not exist. Only a worker creates it (Group.EnsureGroup), after
// making sure new entries come after every vote already stored; until then there is nowhere to
// vote, and a voter should try again in a moment.
var ErrNoStream = errors.New("the vote stream does not exist yet (a worker creates it)")

// Append adds one entry per cast, in order, in one round trip, and returns the positions Redis
// gave them. There is no MAXLEN: the stream may only lose entries the workers have acknowledged,
// and they trim those themselves. NOMKSTREAM: a missing stream is ErrNoStream, never created here.
// An error does not always mean a vote is missing: an XADD whose reply was lost may have landed.
// Voting again is the cure either way, since a voter's last vote wins.
func (s *Stream) Append(ctx context.Context, casts ...Cast) ([]ballot.Position, error) {
	if len(casts) == 1 { // the vote service's case: no pipeline to build
		id, err := s.rdb.XAdd(ctx, &redis.XAddArgs{Stream: s.key, NoMkStream: true, Values: casts[0].values()}).Result()
		if errors.Is(err, redis.Nil) {
			return nil, ErrNoStream
		}
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
			cmds[i] = p.XAdd(ctx, &redis.XAddArgs{Stream: s.key, NoMkStream: true, Values: c.values()})
		}
		return nil
	})
	if errors.Is(err, redis.Nil) {
		return nil, ErrNoStream
	}
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
