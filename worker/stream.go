package main

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Stream is the worker's side of the Redis stream: a consumer in a consumer group. Entries it reads
// stay pending (owned by this consumer) until Settle acknowledges them, so a crash loses nothing:
// another consumer reclaims them.
type Stream struct {
	rdb      *redis.Client
	key      string // the votes stream
	group    string
	consumer string
	dead     string // dead-letter stream
	legacy   string // the classic app's list, drained onto the stream; "" when off
}

// DeadLetter is an entry set aside: kept on the dead-letter stream with why, then acknowledged.
type DeadLetter struct {
	ID     string
	Kind   string
	Reason string
	Fields map[string]any
}

// deadLetterCap bounds the dead-letter stream (approximately), and deadFieldCap each copied value,
// so a flood of megabyte entries cannot fill Redis's memory through it.
const (
	deadLetterCap = 100_000
	deadFieldCap  = 1024
	deadFieldMax  = 16
)

// EnsureGroup creates the consumer group (and the stream) if needed. A new group starts at the
// beginning of the stream, so votes cast before the first worker started are not skipped.
func (s *Stream) EnsureGroup(ctx context.Context) error {
	err := s.rdb.XGroupCreateMkStream(ctx, s.key, s.group, "0").Err()
	if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
		return fmt.Errorf("create consumer group: %w", err)
	}
	return nil
}

// isNoGroup reports the error Redis gives when the stream or group vanished (FLUSHALL, a Redis
// restarted without persistence); the group is then created again. The error arrives wrapped.
func isNoGroup(err error) bool {
	var rerr redis.Error
	return errors.As(err, &rerr) && strings.HasPrefix(rerr.Error(), "NOGROUP")
}

// ReadNew waits up to block for entries never delivered to the group.
func (s *Stream) ReadNew(ctx context.Context, count int, block time.Duration) ([]redis.XMessage, error) {
	return s.read(ctx, ">", count, block)
}

// ReadOwnPending returns entries this consumer name read before but never acknowledged (a previous
// run of the same container), after the ID after.
func (s *Stream) ReadOwnPending(ctx context.Context, after string, count int) ([]redis.XMessage, error) {
	return s.read(ctx, after, count, -1)
}

func (s *Stream) read(ctx context.Context, from string, count int, block time.Duration) ([]redis.XMessage, error) {
	res, err := s.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{
		Group:    s.group,
		Consumer: s.consumer,
		Streams:  []string{s.key, from},
		Count:    int64(count),
		Block:    block,
	}).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read stream: %w", err)
	}
	if len(res) == 0 {
		return nil, nil
	}
	return res[0].Messages, nil
}

// Claim takes over entries that another consumer has held unacknowledged for at least minIdle (it
// crashed or hangs), scanning the pending list from start. It returns the cursor for the next
// call; "0-0" means the scan is complete.
func (s *Stream) Claim(ctx context.Context, minIdle time.Duration, start string, count int) ([]redis.XMessage, string, error) {
	msgs, next, err := s.rdb.XAutoClaim(ctx, &redis.XAutoClaimArgs{
		Stream:   s.key,
		Group:    s.group,
		Consumer: s.consumer,
		MinIdle:  minIdle,
		Start:    start,
		Count:    int64(count),
	}).Result()
	if err != nil {
		return nil, "", fmt.Errorf("reclaim pending entries: %w", err)
	}
	return msgs, next, nil
}

// Hold renews this consumer's claim on entries it is still working on (a batch waiting for the
// database to come back), so that other consumers do not take them over as abandoned. JUSTID keeps
// the delivery count unchanged.
func (s *Stream) Hold(ctx context.Context, ids []string) error {
	err := s.rdb.XClaimJustID(ctx, &redis.XClaimArgs{
		Stream: s.key, Group: s.group, Consumer: s.consumer, MinIdle: 0, Messages: ids,
	}).Err()
	if err != nil {
		return fmt.Errorf("hold entries: %w", err)
	}
	return nil
}

// Settle records dead letters and acknowledges a processed batch in one MULTI/EXEC, so an entry is
// never acknowledged without its dead letter having been written. It returns how many entries this
// call acknowledged; fewer than len(ids) means another consumer had already settled some of them.
func (s *Stream) Settle(ctx context.Context, ids []string, dead []DeadLetter) (int64, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	var ack *redis.IntCmd
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for _, d := range dead {
			p.XAdd(ctx, &redis.XAddArgs{
				Stream: s.dead,
				MaxLen: deadLetterCap,
				Approx: true,
				Values: deadLetterValues(d, s.consumer),
			})
		}
		ack = p.XAck(ctx, s.key, s.group, ids...)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("acknowledge %d entries: %w", len(ids), err)
	}
	return ack.Val(), nil
}

func deadLetterValues(d DeadLetter, consumer string) []any {
	vals := []any{"id", d.ID, "kind", d.Kind, "reason", d.Reason, "consumer", consumer}
	names := make([]string, 0, len(d.Fields))
	for k := range d.Fields {
		names = append(names, k)
	}
	sort.Strings(names)
	for i, k := range names {
		if i == deadFieldMax {
			vals = append(vals, "truncated", fmt.Sprintf("%d more fields", len(names)-i))
			break
		}
		v := fmt.Sprint(d.Fields[k])
		if len(v) > deadFieldCap {
			v = v[:deadFieldCap] + fmt.Sprintf("…(%d bytes)", len(v))
		}
		vals = append(vals, "field:"+truncateName(k), v)
	}
	return vals
}

func truncateName(k string) string {
	if len(k) > 64 {
		return k[:64] + "…"
	}
	return k
}

// Forget deletes the consumers of the group, other than this one, that hold no pending entries and
// have not read for longer than idle: replaced containers and pods, whose names (hostnames) are
// never used again. Deleting a consumer with nothing pending loses nothing; a live one that was
// merely idle is recreated by its next read.
func (s *Stream) Forget(ctx context.Context, idle time.Duration) (int, error) {
	consumers, err := s.rdb.XInfoConsumers(ctx, s.key, s.group).Result()
	if err != nil {
		return 0, fmt.Errorf("list consumers: %w", err)
	}
	forgotten := 0
	for _, c := range consumers {
		if c.Name == s.consumer || c.Pending > 0 || c.Idle < idle {
			continue
		}
		if err := s.rdb.XGroupDelConsumer(ctx, s.key, s.group, c.Name).Err(); err != nil {
			return forgotten, fmt.Errorf("delete consumer: %w", err)
		}
		forgotten++
	}
	return forgotten, nil
}

// Leave deletes this consumer from the group if it holds no pending entries, so a clean shutdown
// leaves no name behind. With entries pending it stays, for a restart or a reclaim to finish them.
func (s *Stream) Leave(ctx context.Context) error {
	consumers, err := s.rdb.XInfoConsumers(ctx, s.key, s.group).Result()
	if err != nil {
		return fmt.Errorf("list consumers: %w", err)
	}
	for _, c := range consumers {
		if c.Name == s.consumer && c.Pending == 0 {
			return s.rdb.XGroupDelConsumer(ctx, s.key, s.group, c.Name).Err()
		}
	}
	return nil
}

// Backlog describes the group's position in the stream after a trim.
type Backlog struct {
	Trimmed int64 // entries removed by this trim
	Lag     int64 // entries not yet delivered to the group; -1 when Redis cannot tell
	Pending int64 // entries delivered but not acknowledged
}

// trimScript removes the entries every consumer group on the stream has acknowledged, and nothing
// else: the cut is the oldest entry still pending in any group, or the one after the last delivered
// entry when a group has nothing pending. Being a script, it reads and trims atomically, so no
// entry delivered in between can be cut. Stream IDs are compared as numbers (ms, then seq).
var trimScript = redis.NewScript(`
local function parse(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end
local groups = redis.call('XINFO', 'GROUPS', KEYS[1])
local cut_ms, cut_seq
local lag, pending = -1, 0
for _, g in ipairs(groups) do
  local f = {}
  for i = 1, #g, 2 do f[g[i]] = g[i + 1] end
  local ms, seq
  if f['pending'] > 0 then
    ms, seq = parse(redis.call('XPENDING', KEYS[1], f['name'])[2])
  else
    ms, seq = parse(f['last-delivered-id'])
    seq = seq + 1
  end
  if cut_ms == nil or ms < cut_ms or (ms == cut_ms and seq < cut_seq) then
    cut_ms, cut_seq = ms, seq
  end
  if f['name'] == ARGV[1] then
    lag = f['lag'] or -1
    pending = f['pending']
  end
end
if cut_ms == nil then
  return {0, lag, pending}
end
local trimmed = redis.call('XTRIM', KEYS[1], 'MINID', string.format('%.0f-%.0f', cut_ms, cut_seq))
return {trimmed, lag, pending}
`)

// Trim drops acknowledged entries so the stream stays bounded, and reports the backlog.
func (s *Stream) Trim(ctx context.Context) (Backlog, error) {
	res, err := trimScript.Run(ctx, s.rdb, []string{s.key}, s.group).Int64Slice()
	if err != nil {
		return Backlog{}, fmt.Errorf("trim stream: %w", err)
	}
	if len(res) != 3 {
		return Backlog{}, fmt.Errorf("trim stream: unexpected reply %v", res)
	}
	return Backlog{Trimmed: res[0], Lag: res[1], Pending: res[2]}, nil
}

// drainScript moves up to ARGV[1] entries from the head of the classic app's list onto the stream,
// verbatim, in one atomic step: an entry is either still on the list or on the stream, never lost
// in between. The classic vote app RPUSHes, so LPOP keeps the order votes were cast in.
var drainScript = redis.NewScript(`
local moved = 0
for _ = 1, tonumber(ARGV[1]) do
  local v = redis.call('LPOP', KEYS[1])
  if not v then break end
  redis.call('XADD', KEYS[2], '*', 'legacy', v)
  moved = moved + 1
end
return moved
`)

// DrainLegacy moves up to n classic-format votes onto the stream; they are decoded there like any
// entry, so malformed ones are dead-lettered the same way.
func (s *Stream) DrainLegacy(ctx context.Context, n int) (int64, error) {
	if s.legacy == "" {
		return 0, nil
	}
	moved, err := drainScript.Run(ctx, s.rdb, []string{s.legacy, s.key}, n).Int64()
	if err != nil {
		return 0, fmt.Errorf("drain classic list %q: %w", s.legacy, err)
	}
	return moved, nil
}
