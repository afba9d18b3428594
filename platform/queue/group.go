package queue

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Group is the worker's side of the stream: one consumer in a consumer group. Entries it reads stay
// pending (owned by this consumer) until Settle acknowledges them, so a crash loses nothing:
// another consumer reclaims them.
type Group struct {
	rdb      *redis.Client
	key      string // the votes stream
	group    string
	consumer string
	dead     string // dead-letter stream
	legacy   string // the classic app's list, drained onto the stream; "" when off
}

// GroupConfig names a consumer.
type GroupConfig struct {
	Stream   string // the votes stream
	Group    string // the consumer group, DefaultGroup unless several apps share a stream
	Consumer string // this consumer's name, unique in the group (the worker uses its hostname)
	Legacy   string // the classic app's list to drain onto the stream; "" when off
}

// NewGroup returns the consumer cfg names. Nothing is sent to Redis until EnsureGroup.
func NewGroup(rdb *redis.Client, cfg GroupConfig) *Group {
	return &Group{rdb: rdb, key: cfg.Stream, group: cfg.Group, consumer: cfg.Consumer,
		dead: DeadLetters(cfg.Stream), legacy: cfg.Legacy}
}

// Consumer is this consumer's name.
func (g *Group) Consumer() string { return g.consumer }

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
func (g *Group) EnsureGroup(ctx context.Context) error {
	err := g.rdb.XGroupCreateMkStream(ctx, g.key, g.group, "0").Err()
	if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
		return fmt.Errorf("create consumer group: %w", err)
	}
	return nil
}

// IsNoGroup reports the error Redis gives when the stream or group vanished (FLUSHALL, a Redis
// restarted without persistence); the group is then created again. The error arrives wrapped.
func IsNoGroup(err error) bool {
	var rerr redis.Error
	return errors.As(err, &rerr) && strings.HasPrefix(rerr.Error(), "NOGROUP")
}

// ReadNew waits up to block for entries never delivered to the group.
func (g *Group) ReadNew(ctx context.Context, count int, block time.Duration) ([]Entry, error) {
	return g.read(ctx, ">", count, block)
}

// ReadOwnPending returns entries this consumer name read before but never acknowledged (a previous
// run of the same container), after the ID after.
func (g *Group) ReadOwnPending(ctx context.Context, after string, count int) ([]Entry, error) {
	return g.read(ctx, after, count, -1)
}

func (g *Group) read(ctx context.Context, from string, count int, block time.Duration) ([]Entry, error) {
	res, err := g.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{
		Group:    g.group,
		Consumer: g.consumer,
		Streams:  []string{g.key, from},
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
	return entries(res[0].Messages), nil
}

// Claim takes over entries that another consumer has held unacknowledged for at least minIdle (it
// crashed or hangs), scanning the pending list from start. It returns the cursor for the next
// call; "0-0" means the scan is complete.
func (g *Group) Claim(ctx context.Context, minIdle time.Duration, start string, count int) ([]Entry, string, error) {
	msgs, next, err := g.rdb.XAutoClaim(ctx, &redis.XAutoClaimArgs{
		Stream:   g.key,
		Group:    g.group,
		Consumer: g.consumer,
		MinIdle:  minIdle,
		Start:    start,
		Count:    int64(count),
	}).Result()
	if err != nil {
		return nil, "", fmt.Errorf("reclaim pending entries: %w", err)
	}
	return entries(msgs), next, nil
}

func entries(msgs []redis.XMessage) []Entry {
	out := make([]Entry, len(msgs))
	for i, m := range msgs {
		out[i] = Entry{ID: m.ID, Fields: m.Values}
	}
	return out
}

// Hold renews this consumer's claim on entries it is still working on (a batch waiting for the
// database to come back), so that other consumers do not take them over as abandoned. JUSTID keeps
// the delivery count unchanged.
func (g *Group) Hold(ctx context.Context, ids []string) error {
	err := g.rdb.XClaimJustID(ctx, &redis.XClaimArgs{
		Stream: g.key, Group: g.group, Consumer: g.consumer, MinIdle: 0, Messages: ids,
	}).Err()
	if err != nil {
		return fmt.Errorf("hold entries: %w", err)
	}
	return nil
}

// Settle records dead letters and acknowledges a processed batch in one MULTI/EXEC, so an entry is
// never acknowledged without its dead letter having been written. It returns how many entries this
// call acknowledged; fewer than len(ids) means another consumer had already settled some of them.
func (g *Group) Settle(ctx context.Context, ids []string, dead []DeadLetter) (int64, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	var ack *redis.IntCmd
	_, err := g.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for _, d := range dead {
			p.XAdd(ctx, &redis.XAddArgs{
				Stream: g.dead,
				MaxLen: deadLetterCap,
				Approx: true,
				Values: deadLetterValues(d, g.consumer),
			})
		}
		ack = p.XAck(ctx, g.key, g.group, ids...)
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
func (g *Group) Forget(ctx context.Context, idle time.Duration) (int, error) {
	consumers, err := g.rdb.XInfoConsumers(ctx, g.key, g.group).Result()
	if err != nil {
		return 0, fmt.Errorf("list consumers: %w", err)
	}
	forgotten := 0
	for _, c := range consumers {
		if c.Name == g.consumer || c.Pending > 0 || c.Idle < idle {
			continue
		}
		if err := g.rdb.XGroupDelConsumer(ctx, g.key, g.group, c.Name).Err(); err != nil {
			return forgotten, fmt.Errorf("delete consumer: %w", err)
		}
		forgotten++
	}
	return forgotten, nil
}

// Leave deletes this consumer from the group if it holds no pending entries, so a clean shutdown
// leaves no name behind. With entries pending it stays, for a restart or a reclaim to finish them.
func (g *Group) Leave(ctx context.Context) error {
	consumers, err := g.rdb.XInfoConsumers(ctx, g.key, g.group).Result()
	if err != nil {
		return fmt.Errorf("list consumers: %w", err)
	}
	for _, c := range consumers {
		if c.Name == g.consumer && c.Pending == 0 {
			return g.rdb.XGroupDelConsumer(ctx, g.key, g.group, c.Name).Err()
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
func (g *Group) Trim(ctx context.Context) (Backlog, error) {
	res, err := trimScript.Run(ctx, g.rdb, []string{g.key}, g.group).Int64Slice()
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
func (g *Group) DrainLegacy(ctx context.Context, n int) (int64, error) {
	if g.legacy == "" {
		return 0, nil
	}
	moved, err := drainScript.Run(ctx, g.rdb, []string{g.legacy, g.key}, n).Int64()
	if err != nil {
		return 0, fmt.Errorf("drain classic list %q: %w", g.legacy, err)
	}
	return moved, nil
}
