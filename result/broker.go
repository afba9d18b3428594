package main

import (
	"encoding/json"
	"errors"
	"hash/fnv"
	"net/netip"
	"strconv"
	"sync"

	"github.com/go-voting-app/voting-app/platform/ballot"
	"github.com/go-voting-app/voting-app/platform/postgres"
)

// results is the standing as /api/results returns it and as every SSE event carries it: the tally,
// the lead in figures and words, and the votes per interval of the last minutes.
type results struct {
	Options []ballot.Count `json:"options"`
	Total   int64          `json:"total"`
	Summary string         `json:"summary"` // "No votes yet", "1 vote", "12,345 votes"
	Lead    lead           `json:"lead"`
	Recent  recentVotes    `json:"recent"`
}

// snapshot is one published standing, encoded once for every browser that receives it.
type snapshot struct {
	Tally  ballot.Tally
	Lead   lead
	Recent recentVotes
	// ID is derived from the content, not from a counter, so every replica gives the same tally the
	// same id and a browser that reconnects to another replica can be compared like for like.
	ID    string
	JSON  []byte // the results document, for /api/results
	Event []byte // the same document as an SSE "tally" event, for /events
}

func newSnapshot(t ballot.Tally, recent []postgres.BucketVotes) *snapshot {
	opts := make(ballot.Options, len(t.Options))
	for i, c := range t.Options {
		opts[i] = c.Option
	}
	r := results{Options: t.Options, Total: t.Total, Summary: t.Summary(), Lead: newLead(t), Recent: newRecentVotes(opts, recent)}
	body, err := json.Marshal(r)
	if err != nil {
		panic(err) // strings, numbers and times only: cannot fail
	}
	h := fnv.New64a()
	h.Write(body)
	id := strconv.FormatUint(h.Sum64(), 36)
	return &snapshot{
		Tally:  t,
		Lead:   r.Lead,
		Recent: r.Recent,
		ID:     id,
		JSON:   append(body, '\n'),
		Event:  event{ID: id, Name: "tally", Data: string(body)}.encode(),
	}
}

// Errors of Subscribe: 503 for the instance's limit and shutdown, 429 for one client's limit.
var (
	errTooManyStreams   = errors.New("too many live streams on this instance")
	errShuttingDown     = errors.New("shutting down")
	errClientHasTooMany = errors.New("too many live streams from one client")
)

// broker fans one tally out to every connected browser. Each subscriber has a mailbox of one slot
// that always holds the newest tally it has not taken yet: publishing never waits for a browser, a
// slow browser skips the tallies it was too slow for, and nothing queues up without bound.
type broker struct {
	mu        sync.Mutex
	latest    *snapshot
	subs      map[*subscriber]struct{}
	max       int                // streams of the instance
	perClient int                // streams of one client address; 0 for no limit
	clients   map[netip.Addr]int // streams open per client
	closed    bool
	done      chan struct{}
	metrics   *metrics
}

// subscriber is one browser's mailbox.
type subscriber struct {
	C      <-chan *snapshot
	c      chan *snapshot
	client netip.Addr
}

// newBroker returns a broker for at most maxSubscribers streams, at most perClient (0: any number)
// of them from one client.
func newBroker(maxSubscribers, perClient int, m *metrics) *broker {
	m.maxStreams.Set(float64(maxSubscribers))
	return &broker{
		subs:      make(map[*subscriber]struct{}),
		clients:   make(map[netip.Addr]int),
		max:       maxSubscribers,
		perClient: perClient,
		done:      make(chan struct{}),
		metrics:   m,
	}
}

// Latest returns the newest tally, or nil before the first one.
func (b *broker) Latest() *snapshot {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.latest
}

// Publish makes t, with the votes per interval of the last minutes, the newest standing and offers
// it to every subscriber. A standing equal to the current one is not sent again (a re-check that
// finds nothing new costs the browsers nothing); Publish reports whether it was new.
func (b *broker) Publish(t ballot.Tally, recent ...postgres.BucketVotes) bool {
	s := newSnapshot(t, recent)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.latest != nil && b.latest.ID == s.ID {
		return false
	}
	b.latest = s
	for sub := range b.subs {
		b.offer(sub, s)
	}
	return true
}

// offer puts s in the mailbox, replacing an older tally the subscriber has not taken. b.mu is held,
// so no other offer races this one and the send after emptying the slot cannot block.
func (b *broker) offer(sub *subscriber, s *snapshot) {
	select {
	case sub.c <- s:
		return
	default:
	}
	select {
	case <-sub.c:
		b.metrics.updatesDropped.Inc()
	default: // the subscriber took it in between
	}
	sub.c <- s
}

// Subscribe returns a mailbox for a stream of client that already holds the newest tally, if there
// is one, so a browser that connects or reconnects is brought up to date at once. One client
// holding many streams meets its own limit before it can fill the instance's.
func (b *broker) Subscribe(client netip.Addr) (*subscriber, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, errShuttingDown
	}
	if b.perClient > 0 && b.clients[client] >= b.perClient {
		return nil, errClientHasTooMany
	}
	if len(b.subs) >= b.max {
		return nil, errTooManyStreams
	}
	c := make(chan *snapshot, 1)
	sub := &subscriber{C: c, c: c, client: client}
	b.clients[client]++
	if b.latest != nil {
		c <- b.latest
	}
	b.subs[sub] = struct{}{}
	b.metrics.clients.Set(float64(len(b.subs)))
	return sub, nil
}

// Unsubscribe removes the mailbox; it is safe to call more than once.
func (b *broker) Unsubscribe(sub *subscriber) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.subs[sub]; !ok {
		return
	}
	delete(b.subs, sub)
	if b.clients[sub.client]--; b.clients[sub.client] <= 0 {
		delete(b.clients, sub.client)
	}
	b.metrics.clients.Set(float64(len(b.subs)))
}

// Close ends every stream: Done is closed and Subscribe refuses new ones. The HTTP server calls it
// when shutdown starts, so open streams do not hold shutdown until its deadline.
func (b *broker) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.closed {
		b.closed = true
		close(b.done)
	}
}

// Done is closed when the broker is closed.
func (b *broker) Done() <-chan struct{} { return b.done }
