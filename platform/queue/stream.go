package queue

import (
	"context"
	"errors"
	"fmt"

	"github.com/go-voting-app/voting-app/platform/ballot"
	"github.com/redis/go-redis/v9"
)

// Inbox is where the vote service puts votes: a Redis list next to the stream, to which it may
// only append (RPUSH is the one command its Redis user has; it cannot read, trim or delete).
// Workers move the votes onto the stream in the order they arrived (Group.Move). Appending to the
// stream directly would need XADD, whose MAXLEN and MINID options would let a compromised vote
// service trim entries nobody has acknowledged; Redis's ACLs cannot forbid options, and apply
// inside scripts and functions too, so no Redis Function can stand in between.
type Inbox struct {
	rdb *redis.Client
	key string
}

// InboxKey is the inbox of the stream at key.
func InboxKey(stream string) string { return stream + ":inbox" }

// NewInbox returns the inbox of the stream at key stream.
func NewInbox(rdb *redis.Client, stream string) *Inbox {
	return &Inbox{rdb: rdb, key: InboxKey(stream)}
}

// Cast appends votes, in order, in one round trip. An error does not always mean a vote is
// missing: an RPUSH whose reply was lost may have landed. Voting again is the cure either way,
// since a voter's last vote wins.
func (in *Inbox) Cast(ctx context.Context, casts ...Cast) error {
	values := make([]any, len(casts))
	for i, c := range casts {
		values[i] = c.encode()
	}
	if err := in.rdb.RPush(ctx, in.key, values...).Err(); err != nil {
		return fmt.Errorf("rpush %s: %w", in.key, err)
	}
	return nil
}

// Key is the inbox's key.
func (in *Inbox) Key() string { return in.key }

// Stream is the votes stream, for the tools that fill one directly (tests, benchmarks): the app's
// votes reach it through the inbox.
type Stream struct {
	rdb *redis.Client
	key string
}

// NewStream returns the stream at key.
func NewStream(rdb *redis.Client, key string) *Stream { return &Stream{rdb: rdb, key: key} }

// Key is the stream's key.
func (s *Stream) Key() string { return s.key }

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
