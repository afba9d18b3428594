package main

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/go-voting-app/voting-app/platform/ballot"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func tallyOf(t testing.TB, a, b int64) ballot.Tally {
	return ballot.NewTally(testOptions(t), map[string]int64{"a": a, "b": b})
}

func TestBrokerSubscribeGetsLatest(t *testing.T) {
	b := newBroker(10, 0, newMetrics(prometheus.NewRegistry()))
	early, err := b.Subscribe(netip.Addr{})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case s := <-early.C:
		t.Fatalf("no tally published yet, got %+v", s.Tally)
	default:
	}
	b.Publish(tallyOf(t, 1, 2))
	late, err := b.Subscribe(netip.Addr{})
	if err != nil {
		t.Fatal(err)
	}
	for name, sub := range map[string]*subscriber{"early": early, "late": late} {
		select {
		case s := <-sub.C:
			if s.Tally.Total != 3 {
				t.Errorf("%s subscriber got total %d", name, s.Tally.Total)
			}
		default:
			t.Errorf("%s subscriber has no tally", name)
		}
	}
}

func TestBrokerSkipsUnchangedTally(t *testing.T) {
	b := newBroker(10, 0, newMetrics(prometheus.NewRegistry()))
	if !b.Publish(tallyOf(t, 1, 2)) {
		t.Fatal("first tally not published")
	}
	sub, _ := b.Subscribe(netip.Addr{})
	<-sub.C
	if b.Publish(tallyOf(t, 1, 2)) {
		t.Fatal("an equal tally was published again")
	}
	select {
	case <-sub.C:
		t.Fatal("subscriber was sent an unchanged tally")
	default:
	}
}

// A subscriber that never takes its mailbox must not hold up publishing or the others, and when it
// does look, it finds the newest tally, not the oldest.
func TestBrokerSlowSubscriberGetsLatestOnly(t *testing.T) {
	m := newMetrics(prometheus.NewRegistry())
	b := newBroker(10, 0, m)
	slow, _ := b.Subscribe(netip.Addr{})
	fast, _ := b.Subscribe(netip.Addr{})
	const n = 1000
	for i := range int64(n) {
		b.Publish(tallyOf(t, i, 1)) // returns at once although slow never reads
		if s := <-fast.C; s.Tally.Total != i+1 {
			t.Fatalf("fast subscriber got total %d, want %d", s.Tally.Total, i+1)
		}
	}
	if s := <-slow.C; s.Tally.Total != n {
		t.Fatalf("slow subscriber got total %d, want the newest, %d", s.Tally.Total, n)
	}
	select {
	case <-slow.C:
		t.Fatal("mailbox held more than one tally")
	default:
	}
	if got := testutil.ToFloat64(m.updatesDropped); got != n-1 {
		t.Fatalf("dropped updates = %v, want %d", got, n-1)
	}
}

func TestBrokerLimitAndClose(t *testing.T) {
	m := newMetrics(prometheus.NewRegistry())
	b := newBroker(2, 0, m)
	s1, _ := b.Subscribe(netip.Addr{})
	if _, err := b.Subscribe(netip.Addr{}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Subscribe(netip.Addr{}); !errors.Is(err, errTooManyStreams) {
		t.Fatalf("third subscriber: %v, want errTooManyStreams", err)
	}
	if got := testutil.ToFloat64(m.clients); got != 2 {
		t.Fatalf("clients gauge %v, want 2", got)
	}
	// The cap beside the count: a rule compares the two.
	if got := testutil.ToFloat64(m.maxStreams); got != 2 {
		t.Fatalf("max streams gauge %v, want 2", got)
	}
	b.Unsubscribe(s1)
	b.Unsubscribe(s1)
	if _, err := b.Subscribe(netip.Addr{}); err != nil {
		t.Fatalf("a slot was freed: %v", err)
	}
	b.Close()
	b.Close()
	select {
	case <-b.Done():
	default:
		t.Fatal("Done not closed")
	}
	if _, err := b.Subscribe(netip.Addr{}); !errors.Is(err, errShuttingDown) {
		t.Fatalf("after Close: %v, want errShuttingDown", err)
	}
}
