package queue

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/go-voting-app/voting-app/platform/ballot"
	"github.com/go-voting-app/voting-app/testkit"
	"github.com/redis/go-redis/v9"
)

func TestMain(m *testing.M) { testkit.Main(m) }

func client(t *testing.T) (*redis.Client, string) {
	t.Helper()
	url, prefix := testkit.Redis(t)
	rdb, err := Open(Config{URL: url}, 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rdb.Close() })
	return rdb, prefix
}

func cast(voter string) Cast {
	return Cast{Voter: ballot.VoterID(voter), Option: ballot.KeyA, At: time.Now()}
}

// The vote service never creates the stream: only a worker does, with its floor.
func TestAppendNeverCreatesTheStream(t *testing.T) {
	rdb, prefix := client(t)
	ctx := context.Background()
	s := NewStream(rdb, prefix+"votes")
	for _, n := range []int{1, 3} {
		casts := make([]Cast, n)
		for i := range casts {
			casts[i] = cast("0123456789abcdef0123456789abcdef")
		}
		if _, err := s.Append(ctx, casts...); !errors.Is(err, ErrNoStream) {
			t.Fatalf("append of %d to a missing stream: %v, want ErrNoStream", n, err)
		}
	}
	if n, _ := rdb.Exists(ctx, s.Key()).Result(); n != 0 {
		t.Fatal("Append created the stream")
	}
	if _, err := NewGroup(rdb, GroupConfig{Stream: s.Key(), Group: "g", Consumer: "c"}).EnsureGroup(ctx, ballot.Position{}); err != nil {
		t.Fatal(err)
	}
	if pos, err := s.Append(ctx, cast("0123456789abcdef0123456789abcdef")); err != nil || len(pos) != 1 {
		t.Fatalf("append after EnsureGroup: %v, %v", pos, err)
	}
}

// After EnsureGroup, every new entry comes after the floor, whatever the clock says: a stream that
// Redis lost and that is created again on a host whose clock is behind continues above the votes
// already stored.
func TestEnsureGroupSetsTheFloor(t *testing.T) {
	now := time.Now().UnixMilli()
	ahead := ballot.Position{Ms: now + time.Hour.Milliseconds(), Seq: 7} // stored by a clock an hour ahead
	tests := []struct {
		name        string
		existing    string // an entry ID the stream already has; "" for no stream
		floor       ballot.Position
		wantCreated bool
		wantAfter   ballot.Position // new entries come after this
		wantRead    int             // entries the group reads: the old ones are not skipped
	}{
		{"new stream, empty store", "", ballot.Position{}, true, ballot.Position{Ms: now - 1000}, 1},
		{"new stream, store ahead of the clock", "", ahead, true, ahead, 1},
		{"stream behind the store", "1000-0", ahead, false, ahead, 2},
		{"stream ahead of the store", FormatID(ballot.Position{Ms: ahead.Ms + 5, Seq: 0}), ahead, false, ballot.Position{Ms: ahead.Ms + 5}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rdb, prefix := client(t)
			ctx := context.Background()
			key := prefix + "votes"
			if tt.existing != "" {
				if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: key, ID: tt.existing, Values: []any{"x", "y"}}).Err(); err != nil {
					t.Fatal(err)
				}
			}
			g := NewGroup(rdb, GroupConfig{Stream: key, Group: "workers", Consumer: "w"})
			created, err := g.EnsureGroup(ctx, tt.floor)
			if err != nil || created != tt.wantCreated {
				t.Fatalf("EnsureGroup: created %v, %v; want %v", created, err, tt.wantCreated)
			}
			// Idempotent: a second worker finds everything in place.
			if created, err := g.EnsureGroup(ctx, tt.floor); err != nil || created {
				t.Fatalf("second EnsureGroup: created %v, %v", created, err)
			}
			pos, err := NewStream(rdb, key).Append(ctx, cast("0123456789abcdef0123456789abcdef"))
			if err != nil {
				t.Fatal(err)
			}
			if !tt.wantAfter.Less(pos[0]) {
				t.Fatalf("new entry at %s, want after %s", FormatID(pos[0]), FormatID(tt.wantAfter))
			}
			// The group reads from the start: an entry that was there before is not skipped.
			msgs, err := g.ReadNew(ctx, 10, -1)
			if err != nil {
				t.Fatal(err)
			}
			if len(msgs) != tt.wantRead {
				t.Fatalf("group read %d entries, want %d", len(msgs), tt.wantRead)
			}
		})
	}
}

// Forget checks and deletes in one step. A consumer that reads between a separate check and the
// delete would lose what it read: XGROUP DELCONSUMER drops its pending entries with it. The hook
// lets the victim read right after the first command Forget sends, the moment such a gap opens.
func TestForgetCannotDropEntriesReadMeanwhile(t *testing.T) {
	rdb, prefix := client(t)
	ctx := context.Background()
	key := prefix + "votes"
	cfg := GroupConfig{Stream: key, Group: "workers"}
	victim := NewGroup(rdb, withConsumer(cfg, "victim"))
	if _, err := victim.EnsureGroup(ctx, ballot.Position{}); err != nil {
		t.Fatal(err)
	}
	if err := rdb.XGroupCreateConsumer(ctx, key, "workers", "victim").Err(); err != nil {
		t.Fatal(err)
	}
	casts := make([]Cast, 5)
	for i := range casts {
		casts[i] = cast("0123456789abcdef0123456789abcdef")
	}
	if _, err := NewStream(rdb, key).Append(ctx, casts...); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond) // the victim is now idle for longer than Forget's threshold

	opts := *rdb.Options()
	hooked := redis.NewClient(&opts)
	defer hooked.Close()
	var read []Entry
	var readErr error
	armed := true
	hooked.AddHook(afterFirstCommand{armed: &armed, then: func() {
		read, readErr = victim.ReadNew(ctx, 10, -1)
	}})
	if _, err := NewGroup(hooked, withConsumer(cfg, "forgetter")).Forget(ctx, 10*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if readErr != nil || len(read) != 5 {
		t.Fatalf("the victim read %d entries (%v) during Forget; want 5", len(read), readErr)
	}
	pending, err := rdb.XPending(ctx, key, "workers").Result()
	if err != nil {
		t.Fatal(err)
	}
	if pending.Count != 5 || pending.Consumers["victim"] != 5 {
		t.Fatalf("after Forget: %d entries pending (%v); the victim's 5 reads were dropped", pending.Count, pending.Consumers)
	}
}

func withConsumer(cfg GroupConfig, name string) GroupConfig {
	cfg.Consumer = name
	return cfg
}

// afterFirstCommand runs then once, right after the first command (or pipeline) the client sends.
type afterFirstCommand struct {
	armed *bool
	then  func()
}

func (h afterFirstCommand) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h afterFirstCommand) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if *h.armed && cmd.Name() != "hello" && cmd.Name() != "client" {
			*h.armed = false
			h.then()
		}
		return err
	}
}

func (h afterFirstCommand) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// Trim reports what the worker's health needs: pending entries in all and held by this consumer,
// whether some wait unread, and the oldest unacknowledged position; and it cuts only what every
// group has acknowledged.
func TestTrimReportsTheBacklog(t *testing.T) {
	rdb, prefix := client(t)
	ctx := context.Background()
	key := prefix + "votes"
	me := NewGroup(rdb, GroupConfig{Stream: key, Group: "workers", Consumer: "me"})
	other := NewGroup(rdb, GroupConfig{Stream: key, Group: "workers", Consumer: "other"})
	if _, err := me.EnsureGroup(ctx, ballot.Position{}); err != nil {
		t.Fatal(err)
	}
	b, err := me.Trim(ctx)
	if err != nil || b.Waiting || b.Undelivered || b.Pending != 0 {
		t.Fatalf("empty stream: %+v, %v", b, err)
	}
	casts := make([]Cast, 6)
	for i := range casts {
		casts[i] = cast("0123456789abcdef0123456789abcdef")
	}
	pos, err := NewStream(rdb, key).Append(ctx, casts...)
	if err != nil {
		t.Fatal(err)
	}
	b, _ = me.Trim(ctx)
	if !b.Undelivered || !b.Waiting || b.Oldest != pos[0] || b.Lag != 6 {
		t.Fatalf("six unread: %+v", b)
	}
	mine, _ := me.ReadNew(ctx, 2, -1)      // entries 0, 1
	theirs, _ := other.ReadNew(ctx, 3, -1) // entries 2, 3, 4
	if len(mine) != 2 || len(theirs) != 3 {
		t.Fatalf("read %d and %d", len(mine), len(theirs))
	}
	if _, _, err := me.Settle(ctx, []string{mine[0].ID}, nil); err != nil {
		t.Fatal(err)
	}
	b, err = me.Trim(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if b.Trimmed != 1 || b.Pending != 4 || b.Own != 1 || !b.Undelivered || b.Oldest != pos[1] || b.Lag != 1 {
		t.Fatalf("after reads and one ack: %+v", b)
	}
}

// Two consumers settle the same entries (one reclaimed them while the other was still at work):
// each entry is acknowledged once and its dead letter written once.
func TestSettleWritesEachDeadLetterOnce(t *testing.T) {
	rdb, prefix := client(t)
	ctx := context.Background()
	key := prefix + "votes"
	first := NewGroup(rdb, GroupConfig{Stream: key, Group: "workers", Consumer: "first"})
	second := NewGroup(rdb, GroupConfig{Stream: key, Group: "workers", Consumer: "second"})
	if _, err := first.EnsureGroup(ctx, ballot.Position{}); err != nil {
		t.Fatal(err)
	}
	if _, err := NewStream(rdb, key).Append(ctx, cast("0123456789abcdef0123456789abcdef"), cast("fedcba9876543210fedcba9876543210")); err != nil {
		t.Fatal(err)
	}
	msgs, err := first.ReadNew(ctx, 10, -1)
	if err != nil || len(msgs) != 2 {
		t.Fatalf("read %d, %v", len(msgs), err)
	}
	ids := []string{msgs[0].ID, msgs[1].ID}
	dead := []DeadLetter{{ID: msgs[1].ID, Kind: BadVoter, Reason: "test", Fields: msgs[1].Fields}}
	acked1, written1, err1 := first.Settle(ctx, ids, dead)
	acked2, written2, err2 := second.Settle(ctx, ids, dead)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if acked1 != 2 || len(written1) != 1 || acked2 != 0 || len(written2) != 0 {
		t.Fatalf("first settle: %d acked, %d written; second: %d, %d", acked1, len(written1), acked2, len(written2))
	}
	if n, _ := rdb.XLen(ctx, DeadLetters(key)).Result(); n != 1 {
		t.Fatalf("%d dead letters, want 1", n)
	}
	d, _ := rdb.XRange(ctx, DeadLetters(key), "-", "+").Result()
	if d[0].Values["id"] != msgs[1].ID || d[0].Values["kind"] != BadVoter || d[0].Values["field:voter"] != "fedcba9876543210fedcba9876543210" {
		t.Fatalf("dead letter %v", d[0].Values)
	}
}

// Votes cast on the inbox reach the stream in the order they arrived, moved by any consumer, and
// only once a worker has created the stream; waiting on the inbox takes nothing from it.
func TestInboxVotesMoveOntoTheStreamInOrder(t *testing.T) {
	rdb, prefix := client(t)
	ctx := context.Background()
	key := prefix + "votes"
	inbox := NewInbox(rdb, key)
	g := NewGroup(rdb, GroupConfig{Stream: key, Group: "workers", Consumer: "w"})
	if ok, err := g.AwaitInbox(ctx, 10*time.Millisecond); err != nil || ok {
		t.Fatalf("empty inbox: %v, %v", ok, err)
	}
	voters := []string{"0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210"}
	for i := range 5 {
		c := Cast{Voter: ballot.VoterID(voters[i%2]), Option: []string{"a", "b"}[i%2], At: time.UnixMilli(int64(1700000000000 + i))}
		if err := inbox.Cast(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if ok, err := g.AwaitInbox(ctx, time.Second); err != nil || !ok {
		t.Fatalf("inbox with votes: %v, %v", ok, err)
	}
	if moved, err := g.Move(ctx, 100); err != nil || moved != 0 {
		t.Fatalf("move before the stream exists: %d, %v; want nothing moved", moved, err)
	}
	if n, _ := rdb.LLen(ctx, InboxKey(key)).Result(); n != 5 {
		t.Fatalf("inbox holds %d after waiting and a refused move, want 5", n)
	}
	if _, err := g.EnsureGroup(ctx, ballot.Position{}); err != nil {
		t.Fatal(err)
	}
	if moved, err := g.Move(ctx, 3); err != nil || moved != 3 {
		t.Fatalf("move 3: %d, %v", moved, err)
	}
	if moved, err := g.Move(ctx, 100); err != nil || moved != 2 {
		t.Fatalf("move the rest: %d, %v", moved, err)
	}
	msgs, err := g.ReadNew(ctx, 10, -1)
	if err != nil || len(msgs) != 5 {
		t.Fatalf("read %d, %v", len(msgs), err)
	}
	for i, m := range msgs {
		v, err := Decode(m)
		if err != nil || v.CastAt.UnixMilli() != int64(1700000000000+i) || v.Voter != voters[i%2] {
			t.Fatalf("entry %d: %+v, %v; want the votes in the order they were cast", i, v, err)
		}
	}
	if b, err := g.Trim(ctx); err != nil || b.Inbox != 0 {
		t.Fatalf("backlog after the move: %+v, %v", b, err)
	}
}
