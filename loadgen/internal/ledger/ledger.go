// Package ledger keeps a load run's account of every voter's vote, so that the tally the system
// shows afterwards can be checked. The last accepted vote of a voter wins; a vote whose outcome is
// unknown (no answer, a server error) may have been applied too, even after a later vote, so it
// widens what the tally may be instead of being guessed either way.
package ledger

import (
	"fmt"
	"maps"
	"math/bits"
	"slices"
	"sync"
)

// Outcome is what a vote's response says about it.
type Outcome int

const (
	// Accepted: the service took the vote (303 from the form, 202 from the API).
	Accepted Outcome = iota + 1
	// Rejected: the vote was not applied. The service refused it (4xx) or it was never sent
	// (connection refused).
	Rejected
	// Unknown: the vote may have been applied. The request timed out, the connection broke after
	// it was sent, or the service failed (5xx) after it may already have queued the vote.
	Unknown
)

func (o Outcome) String() string {
	switch o {
	case Accepted:
		return "accepted"
	case Rejected:
		return "rejected"
	case Unknown:
		return "unknown"
	}
	return fmt.Sprintf("Outcome(%d)", int(o))
}

// None stands for "no vote" among the ends a voter may have.
const None = "none"

// Ledger is the account of one run.
type Ledger struct {
	options []string
	voters  []Voter

	mu sync.Mutex
	// Votes of voters the service has not named (no voter_id cookie in any response yet), per
	// option index: each such vote, if applied, created a voter of its own under an id the run
	// never learned, and nothing the run sends later can change it.
	unnamedAccepted []int64
	unnamedUnknown  []int64
}

// Voter is one voter's account. Lock it around sending the voter's vote and recording its
// outcome: one vote in flight per voter keeps the order the service sees the order recorded here.
type Voter struct {
	mu    sync.Mutex
	id    string
	last  int    // option index + 1 of the last accepted vote; 0 before any
	maybe uint64 // bit i: an unknown-outcome vote for option i may have been applied
}

// New returns the ledger of a run with the given option keys (at most 64) and number of voters.
// ids gives each voter's id, or nil when the service assigns them (SetID records them later).
func New(options []string, voters int, ids func(i int) string) *Ledger {
	if len(options) > 64 {
		panic("ledger: more than 64 options")
	}
	l := &Ledger{
		options:         slices.Clone(options),
		voters:          make([]Voter, voters),
		unnamedAccepted: make([]int64, len(options)),
		unnamedUnknown:  make([]int64, len(options)),
	}
	if ids != nil {
		for i := range l.voters {
			l.voters[i].id = ids(i)
		}
	}
	return l
}

// Voter returns voter i's account.
func (l *Ledger) Voter(i int) *Voter { return &l.voters[i] }

// Lock and Unlock guard the voter's account and serialise the voter's votes.
func (v *Voter) Lock()   { v.mu.Lock() }
func (v *Voter) Unlock() { v.mu.Unlock() }

// ID returns the voter's id, or "" when the service has not named the voter yet. Call with the
// voter locked.
func (v *Voter) ID() string { return v.id }

// SetID records the id the service gave the voter. Call with the voter locked.
func (v *Voter) SetID(id string) { v.id = id }

// Record notes the outcome of a vote for option by voter v. Call with v locked.
func (l *Ledger) Record(v *Voter, option string, o Outcome) {
	i := l.index(option)
	switch {
	case o == Rejected:
	case v.id == "":
		l.recordUnnamed(i, o)
	case o == Accepted:
		v.last = i + 1
	case o == Unknown:
		v.maybe |= 1 << i
	}
}

// RecordUnnamed notes a vote that the service applied, or may have applied, to a voter other than
// the one the run sent it for: the response named a different voter than the request's cookie.
func (l *Ledger) RecordUnnamed(option string, o Outcome) {
	if o != Rejected {
		l.recordUnnamed(l.index(option), o)
	}
}

func (l *Ledger) recordUnnamed(i int, o Outcome) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if o == Accepted {
		l.unnamedAccepted[i]++
	} else {
		l.unnamedUnknown[i]++
	}
}

func (l *Ledger) index(option string) int {
	i := slices.Index(l.options, option)
	if i < 0 {
		panic(fmt.Sprintf("ledger: option %q is not on the ballot %v", option, l.options))
	}
	return i
}

// Bound is the least and the most a count may be.
type Bound struct {
	Min int64 `json:"min"`
	Max int64 `json:"max"`
}

// Exact reports whether the bound allows one count only.
func (b Bound) Exact() bool { return b.Min == b.Max }

// Expectation is what the tally must show once every vote of the run has been applied. Call
// Expectation after the run: it reads the voters without locking them.
type Expectation struct {
	Options []string `json:"options"`
	// Voters maps each voter with an accepted vote to the option of the last one.
	Voters map[string]string `json:"voters"`
	// Uncertain maps each voter whose unknown-outcome votes leave more than one possible end to
	// those ends: option keys, and None when the voter may have no vote at all.
	Uncertain map[string][]string `json:"uncertain"`
	// Unnamed counts, per option, votes by voters the service had not named when they voted
	// (accepted: each added one vote; unknown: each may have).
	Unnamed map[string]Unnamed `json:"unnamed,omitempty"`
	// Counts is the tally if no unknown-outcome vote was applied.
	Counts map[string]int64 `json:"counts"`
	// Bounds per option and for the total: from the votes certainly applied to all those possibly
	// applied. With no unknown-outcome votes each is exact.
	Bounds map[string]Bound `json:"bounds"`
	Total  Bound            `json:"total"`
	Exact  bool             `json:"exact"`
}

// Unnamed counts the votes of one option cast by voters the service had not named.
type Unnamed struct {
	Accepted int64 `json:"accepted"`
	Unknown  int64 `json:"unknown"`
}

// Expectation works out the expected tally from the ledger.
func (l *Ledger) Expectation() Expectation {
	e := Expectation{
		Options:   slices.Clone(l.options),
		Voters:    make(map[string]string),
		Uncertain: make(map[string][]string),
		Unnamed:   make(map[string]Unnamed),
		Counts:    make(map[string]int64),
		Bounds:    make(map[string]Bound),
	}
	bounds := make([]Bound, len(l.options))
	for i := range l.voters {
		v := &l.voters[i]
		// ends is the set of options the voter's vote may end on; bit len(options) is "none".
		none := uint64(1) << len(l.options)
		ends := v.maybe
		if v.last > 0 {
			ends |= 1 << (v.last - 1)
			e.Voters[v.id] = l.options[v.last-1]
			e.Counts[l.options[v.last-1]]++
		} else {
			ends |= none
		}
		if bits.OnesCount64(ends) > 1 {
			e.Uncertain[v.id] = l.names(ends)
		}
		for o := range l.options {
			if ends&(1<<o) != 0 {
				bounds[o].Max++
				if ends == 1<<o {
					bounds[o].Min++
				}
			}
		}
		if ends&none == 0 {
			e.Total.Min++
		}
		if ends&^none != 0 {
			e.Total.Max++
		}
	}
	for o, key := range l.options {
		acc, unk := l.unnamedAccepted[o], l.unnamedUnknown[o]
		if acc+unk > 0 {
			e.Unnamed[key] = Unnamed{Accepted: acc, Unknown: unk}
		}
		e.Counts[key] += acc
		bounds[o].Min += acc
		bounds[o].Max += acc + unk
		e.Total.Min += acc
		e.Total.Max += acc + unk
		e.Bounds[key] = bounds[o]
	}
	e.Exact = e.Total.Exact()
	for _, b := range e.Bounds {
		e.Exact = e.Exact && b.Exact()
	}
	return e
}

func (l *Ledger) names(set uint64) []string {
	var out []string
	for o, key := range l.options {
		if set&(1<<o) != 0 {
			out = append(out, key)
		}
	}
	if set&(1<<len(l.options)) != 0 {
		out = append(out, None)
	}
	return out
}

// Check compares a tally of the run's votes (option key → votes) with the expectation and
// returns one line per count outside its bound; none when the tally is as expected. A key the
// run did not vote for must count zero.
func (e Expectation) Check(got map[string]int64) []string {
	var bad []string
	var total int64
	for _, key := range slices.Sorted(maps.Keys(got)) {
		total += got[key]
		if _, ok := e.Bounds[key]; !ok && got[key] != 0 {
			bad = append(bad, fmt.Sprintf("%s=%d, want 0 (not an option of this run)", key, got[key]))
		}
	}
	for _, key := range e.Options {
		if b := e.Bounds[key]; got[key] < b.Min || got[key] > b.Max {
			bad = append(bad, fmt.Sprintf("%s=%d, want %s", key, got[key], b))
		}
	}
	if total < e.Total.Min || total > e.Total.Max {
		bad = append(bad, fmt.Sprintf("total=%d, want %s", total, e.Total))
	}
	return bad
}

func (b Bound) String() string {
	if b.Exact() {
		return fmt.Sprint(b.Min)
	}
	return fmt.Sprintf("%d..%d", b.Min, b.Max)
}
