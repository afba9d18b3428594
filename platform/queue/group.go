package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/go-voting-app/voting-app/platform/ballot"
	"github.com/redis/go-redis/v9"
)

// Group is the worker's side of the stream: one consumer in a consumer group. Entries it reads stay
// pending (owned by this consumer) until Settle acknowledges them, so a crash loses nothing:
// another consumer reclaims them.
type Group struct {
	rdb      *redis.Client
	key      string // the votes stream
	inbox    string // the list the vote service appends to
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
	return &Group{rdb: rdb, key: cfg.Stream, inbox: InboxKey(cfg.Stream), group: cfg.Group, consumer: cfg.Consumer,
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

// ensureScript makes the stream and its group exist, and makes every entry added from now on
// come after floor (ARGV[2], "ms-seq"): the position of the newest vote already stored. Redis keeps
// a stream's IDs increasing only while it keeps the stream; one that lost its data (no
// persistence, a lost append-only file, a FLUSHALL) and runs on a host whose clock is behind would
// hand out IDs below votes already stored, and those newer votes would lose to older ones. Only
// this script creates the stream (the vote service appends with NOMKSTREAM), so no entry can get
// in before the floor is set. A group it creates starts at the beginning of the stream, so votes
// cast before the first worker started are not skipped. It returns 1 when it created the stream.
var ensureScript = redis.NewScript(`
local function parse(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end
local created = 0
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('XGROUP', 'CREATE', KEYS[1], ARGV[1], '0', 'MKSTREAM')
  created = 1
else
  local ok, err = pcall(redis.call, 'XGROUP', 'CREATE', KEYS[1], ARGV[1], '0')
  if not ok and not string.find(tostring(err), 'BUSYGROUP') then
    return redis.error_reply(tostring(err))
  end
end
local info = redis.call('XINFO', 'STREAM', KEYS[1])
local last
for i = 1, #info, 2 do
  if info[i] == 'last-generated-id' then last = info[i + 1] end
end
local lms, lseq = parse(last)
local fms, fseq = parse(ARGV[2])
if fms > lms or (fms == lms and fseq > lseq) then
  redis.call('XSETID', KEYS[1], ARGV[2])
end
return created
`)

// EnsureGroup makes the stream and the consumer group exist, and makes sure that every entry
// appended from now on comes after floor, the newest position already stored (see ensureScript).
// It reports whether it created the stream: a stream that vanished means Redis lost its data.
func (g *Group) EnsureGroup(ctx context.Context, floor ballot.Position) (created bool, err error) {
	n, err := ensureScript.Run(ctx, g.rdb, []string{g.key}, g.group, FormatID(floor)).Int()
	if err != nil {
		return false, fmt.Errorf("create stream and consumer group: %w", err)
	}
	return n == 1, nil
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

// settleScript acknowledges a processed batch and writes its dead letters, each only if this call
// acknowledges its entry: when two consumers settle the same entries (one reclaimed them while the
// other was still at work), each entry is acknowledged once and its dead letter written once, and
// never is an entry acknowledged without its dead letter. ARGV: group, dead-letter cap, the number
// of dead letters, then for each its entry ID, the number of its fields and the fields, then the
// IDs of the other entries. It returns the count acknowledged and the indexes of the dead letters
// written.
var settleScript = redis.NewScript(`
local acked, written = 0, {}
local ndead = tonumber(ARGV[3])
local i = 4
for d = 1, ndead do
  local id, nf = ARGV[i], tonumber(ARGV[i + 1])
  if redis.call('XACK', KEYS[1], ARGV[1], id) == 1 then
    acked = acked + 1
    written[#written + 1] = d - 1
    redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', unpack(ARGV, i + 2, i + 1 + nf))
  end
  i = i + 2 + nf
end
while i <= #ARGV do
  local last = math.min(i + 999, #ARGV)
  acked = acked + redis.call('XACK', KEYS[1], ARGV[1], unpack(ARGV, i, last))
  i = last + 1
end
return {acked, written}
`)

// Settle acknowledges a processed batch, ids, and writes the dead letters of those of its entries
// that are set aside, atomically (see settleScript). It returns how many entries this call
// acknowledged (fewer than len(ids) means another consumer had already settled some) and the dead
// letters it wrote.
func (g *Group) Settle(ctx context.Context, ids []string, dead []DeadLetter) (acked int64, written []DeadLetter, err error) {
	if len(ids) == 0 {
		return 0, nil, nil
	}
	isDead := make(map[string]bool, len(dead))
	args := []any{g.group, deadLetterCap, len(dead)}
	for _, d := range dead {
		isDead[d.ID] = true
		vals := deadLetterValues(d, g.consumer)
		args = append(args, d.ID, len(vals))
		args = append(args, vals...)
	}
	for _, id := range ids {
		if !isDead[id] {
			args = append(args, id)
		}
	}
	res, err := settleScript.Run(ctx, g.rdb, []string{g.key, g.dead}, args...).Slice()
	if err != nil {
		return 0, nil, fmt.Errorf("acknowledge %d entries: %w", len(ids), err)
	}
	if len(res) != 2 {
		return 0, nil, fmt.Errorf("acknowledge %d entries: unexpected reply %v", len(ids), res)
	}
	acked, _ = res[0].(int64)
	idx, _ := res[1].([]any)
	for _, v := range idx {
		if n, ok := v.(int64); ok && n >= 0 && int(n) < len(dead) {
			written = append(written, dead[n])
		}
	}
	return acked, written, nil
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

// forgetScript deletes the consumers of group ARGV[1], other than ARGV[2], that hold no pending
// entries and have been idle for at least ARGV[3] ms. Checking and deleting in one script is what
// makes it safe: a consumer that read between a separate XINFO and XGROUP DELCONSUMER would lose
// the entries it just read, since DELCONSUMER drops its pending list with it.
var forgetScript = redis.NewScript(`
local deleted = 0
for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do
  local f = {}
  for i = 1, #c, 2 do f[c[i]] = c[i + 1] end
  if f['name'] ~= ARGV[2] and f['pending'] == 0 and f['idle'] >= tonumber(ARGV[3]) then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], f['name'])
    deleted = deleted + 1
  end
end
return deleted
`)

// leaveScript deletes consumer ARGV[2] if it holds no pending entries, checked in the same step.
var leaveScript = redis.NewScript(`
for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do
  local f = {}
  for i = 1, #c, 2 do f[c[i]] = c[i + 1] end
  if f['name'] == ARGV[2] and f['pending'] == 0 then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], f['name'])
    return 1
  end
end
return 0
`)

// Forget deletes the consumers of the group, other than this one, that hold no pending entries and
// have not read for longer than idle: replaced containers and pods, whose names (hostnames) are
// never used again. Deleting a consumer with nothing pending loses nothing; a live one that was
// merely idle is recreated by its next read.
func (g *Group) Forget(ctx context.Context, idle time.Duration) (int, error) {
	n, err := forgetScript.Run(ctx, g.rdb, []string{g.key}, g.group, g.consumer, idle.Milliseconds()).Int()
	if err != nil {
		return 0, fmt.Errorf("forget departed consumers: %w", err)
	}
	return n, nil
}

// Leave deletes this consumer from the group if it holds no pending entries, so a clean shutdown
// leaves no name behind. With entries pending it stays, for a restart or a reclaim to finish them.
func (g *Group) Leave(ctx context.Context) error {
	if err := leaveScript.Run(ctx, g.rdb, []string{g.key}, g.group, g.consumer).Err(); err != nil {
		return fmt.Errorf("leave the consumer group: %w", err)
	}
	return nil
}

// Backlog describes the group's position in the stream after a trim.
type Backlog struct {
	Trimmed int64 // entries removed by this trim
	Lag     int64 // entries not yet delivered to the group; -1 when Redis cannot tell
	Pending int64 // entries delivered but not acknowledged
	Own     int64 // of those, the ones this consumer holds
	// Undelivered says an entry waits that no consumer of the group has read yet.
	Undelivered bool
	// Inbox is how many votes wait on the inbox to be moved onto the stream, and InboxSince when
	// the oldest of them was cast (zero when the inbox is empty or its head unreadable).
	Inbox      int64
	InboxSince time.Time
	// Oldest is the position of the oldest entry the group has not acknowledged, delivered or not;
	// Waiting is false when there is none.
	Oldest  ballot.Position
	Waiting bool
}

// trimScript removes the entries every consumer group on the stream has acknowledged, and nothing
// else: the cut is the oldest entry still pending in any group, or the one after the last delivered
// entry when a group has nothing pending. Being a script, it reads and trims atomically, so no
// entry delivered in between can be cut. Stream IDs are compared as numbers (ms, then seq). For
// group ARGV[1] it also returns its lag and pending count, the count consumer ARGV[2] holds, its
// oldest pending entry and its next undelivered one, and the length and head of the inbox
// (KEYS[2]).
var trimScript = redis.NewScript(`
local function parse(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end
local groups = redis.call('XINFO', 'GROUPS', KEYS[1])
local cut_ms, cut_seq
local lag, pending, own, oldest, nextid = -1, 0, 0, '', ''
for _, g in ipairs(groups) do
  local f = {}
  for i = 1, #g, 2 do f[g[i]] = g[i + 1] end
  local ms, seq
  local first = ''
  if f['pending'] > 0 then
    local summary = redis.call('XPENDING', KEYS[1], f['name'])
    first = summary[2]
    ms, seq = parse(first)
    if f['name'] == ARGV[1] and summary[4] then
      for _, c in ipairs(summary[4]) do
        if c[1] == ARGV[2] then own = tonumber(c[2]) end
      end
    end
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
    oldest = first
    local after = redis.call('XRANGE', KEYS[1], '(' .. f['last-delivered-id'], '+', 'COUNT', 1)
    if #after > 0 then nextid = after[1][1] end
  end
end
local trimmed = 0
if cut_ms ~= nil then
  trimmed = redis.call('XTRIM', KEYS[1], 'MINID', string.format('%.0f-%.0f', cut_ms, cut_seq))
end
return {trimmed, lag, pending, own, oldest, nextid, redis.call('LLEN', KEYS[2]), redis.call('LINDEX', KEYS[2], 0) or ''}
`)

// Trim drops acknowledged entries so the stream stays bounded, and reports the backlog.
func (g *Group) Trim(ctx context.Context) (Backlog, error) {
	res, err := trimScript.Run(ctx, g.rdb, []string{g.key, g.inbox}, g.group, g.consumer).Slice()
	if err != nil {
		return Backlog{}, fmt.Errorf("trim stream: %w", err)
	}
	if len(res) != 8 {
		return Backlog{}, fmt.Errorf("trim stream: unexpected reply %v", res)
	}
	var b Backlog
	b.Trimmed, _ = res[0].(int64)
	b.Lag, _ = res[1].(int64)
	b.Pending, _ = res[2].(int64)
	b.Own, _ = res[3].(int64)
	b.Inbox, _ = res[6].(int64)
	if head, _ := res[7].(string); head != "" {
		var c castJSON
		if json.Unmarshal([]byte(head), &c) == nil && c.At > 0 {
			b.InboxSince = time.UnixMilli(c.At)
		}
	}
	for i, v := range res[4:6] {
		id, _ := v.(string)
		if id == "" {
			continue
		}
		b.Undelivered = b.Undelivered || i == 1
		pos, err := ParseID(id)
		if err != nil {
			return Backlog{}, fmt.Errorf("trim stream: %w", err)
		}
		if !b.Waiting || pos.Less(b.Oldest) {
			b.Oldest, b.Waiting = pos, true
		}
	}
	return b, nil
}

// moveScript moves up to ARGV[1] votes from the head of the inbox (KEYS[1]) onto the stream
// (KEYS[2]), then as many from the classic app's list (KEYS[3], when ARGV[2] is "1"), verbatim, in
// one atomic step: a vote is either still on its list or on the stream, never lost in between,
// and votes keep the order they arrived in (the vote service RPUSHes, so LPOP takes the oldest).
// It never creates the stream: only EnsureGroup does, after setting the floor; the votes wait.
var moveScript = redis.NewScript(MoveSource)

// MoveSource is the Lua source of the script Move runs (KEYS: inbox, stream, classic list; ARGV:
// the most votes to move from each list, and "1" to drain the classic list too), for moving votes
// by hand with EVAL as a worker would, as the fault-injection test does.
const MoveSource = `
if redis.call('EXISTS', KEYS[2]) == 0 then return 0 end
local moved = 0
local function drain(list, field)
  for _ = 1, tonumber(ARGV[1]) do
    local v = redis.call('LPOP', list)
    if not v then return end
    redis.call('XADD', KEYS[2], '*', field, v)
    moved = moved + 1
  end
end
drain(KEYS[1], 'cast')
if ARGV[2] == '1' then drain(KEYS[3], 'legacy') end
return moved
`

// Move moves up to n votes from the inbox, and up to n from the classic app's list when one is
// configured, onto the stream; they are decoded there like any entry, so malformed ones are
// dead-lettered the same way. It returns how many it moved.
func (g *Group) Move(ctx context.Context, n int) (int64, error) {
	legacy, drainLegacy := g.legacy, "1"
	if legacy == "" {
		legacy, drainLegacy = g.inbox, "0" // a key slot must name something; it is not touched
	}
	moved, err := moveScript.Run(ctx, g.rdb, []string{g.inbox, g.key, legacy}, n, drainLegacy).Int64()
	if err != nil {
		return 0, fmt.Errorf("move votes onto the stream: %w", err)
	}
	return moved, nil
}

// AwaitInbox waits up to timeout for the inbox to hold something, and reports whether it does. It
// takes nothing: BLMOVE from the list's tail to its tail blocks while the list is empty and leaves
// it as it was.
func (g *Group) AwaitInbox(ctx context.Context, timeout time.Duration) (bool, error) {
	err := g.rdb.BLMove(ctx, g.inbox, g.inbox, "RIGHT", "RIGHT", timeout).Err()
	switch {
	case errors.Is(err, redis.Nil):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("wait for votes: %w", err)
	}
	return true, nil
}
