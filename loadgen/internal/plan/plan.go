// Package plan decides the votes a load run casts: which voter, which option, and whether it is
// the voter's first vote or a change. The sequence depends only on the settings and the seed, so a
// run can be repeated exactly.
package plan

import (
	"errors"
	"fmt"
	"math/rand/v2"

	"github.com/go-voting-app/voting-app/platform/ballot"
)

// Settings shape the plan.
type Settings struct {
	// Voters is how many distinct voters take part; each votes once before any of them is picked
	// for a change.
	Voters int
	// Votes is the length of the plan; 0 means it never ends and the run is bounded by time. With
	// a length, the plan has exactly min(Voters, Votes) first votes and the rest are changes.
	Votes int
	// Change is the share of changes among the votes cast while some voters have not voted yet.
	// Once everyone has voted, every vote is a change. It is less than 1, or nobody new would vote.
	Change float64
	// Split is the chance that a vote is for option a; the rest are for b. Changes are drawn the
	// same way, so the final tally keeps the split (a change may repeat the voter's choice).
	Split float64
	Seed  uint64
}

// Validate reports every setting out of range.
func (s Settings) Validate() error {
	var errs []error
	if s.Voters < 1 {
		errs = append(errs, fmt.Errorf("voters %d: want at least 1", s.Voters))
	}
	if s.Votes < 0 {
		errs = append(errs, fmt.Errorf("votes %d: want 0 (no limit) or more", s.Votes))
	}
	if !(s.Change >= 0 && s.Change < 1) {
		errs = append(errs, fmt.Errorf("change %v: want a share in [0, 1)", s.Change))
	}
	if !(s.Split >= 0 && s.Split <= 1) {
		errs = append(errs, fmt.Errorf("split %v: want a share in [0, 1]", s.Split))
	}
	return errors.Join(errs...)
}

// Counts returns how many first votes and changes a plan of known length holds.
func (s Settings) Counts() (firsts, changes int) {
	firsts = min(s.Voters, s.Votes)
	return firsts, s.Votes - firsts
}

// Vote is one planned vote.
type Vote struct {
	Voter  int    // index in [0, Voters)
	Option string // ballot.KeyA or ballot.KeyB
	Change bool   // the voter has a vote earlier in the plan
}

// Plan hands out the votes in order. It is not safe for concurrent use.
type Plan struct {
	s     Settings
	rng   *rand.Rand
	n     int // votes handed out
	voted int // voters with a first vote so far; they are voters [0, voted)
}

// New returns the plan for valid settings.
func New(s Settings) (*Plan, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return &Plan{s: s, rng: rand.New(rand.NewPCG(s.Seed, s.Seed^0x9e3779b97f4a7c15))}, nil
}

// Next returns the next vote, or false at the end of the plan.
func (p *Plan) Next() (Vote, bool) {
	if p.s.Votes > 0 && p.n >= p.s.Votes {
		return Vote{}, false
	}
	v := Vote{Option: ballot.KeyB}
	if p.rng.Float64() < p.s.Split {
		v.Option = ballot.KeyA
	}
	if p.first() {
		v.Voter = p.voted
		p.voted++
	} else {
		v.Voter = p.rng.IntN(p.voted)
		v.Change = true
	}
	p.n++
	return v, true
}

// first decides whether the next vote is a new voter's.
func (p *Plan) first() bool {
	waiting := p.s.Voters - p.voted
	switch {
	case waiting == 0:
		return false
	case p.voted == 0:
		return true // nobody could change a vote yet
	case p.s.Votes > 0 && p.s.Votes-p.n <= waiting:
		return true // the votes left are just enough for everyone to vote once
	}
	return p.rng.Float64() >= p.s.Change
}
