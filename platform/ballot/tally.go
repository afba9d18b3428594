package ballot

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
)

// Count is one option's share of a tally.
type Count struct {
	Option
	Votes int64 `json:"votes"`
	// Percent is the option's share of all votes, rounded so that the shares of a tally add up to
	// exactly 100 (largest remainder method), or 0 when there are no votes.
	Percent int `json:"percent"`
}

// Tally is the current count for every option on the ballot, in ballot order.
type Tally struct {
	Options []Count `json:"options"`
	Total   int64   `json:"total"`
}

// NewTally lays votes per option key over the ballot. Keys in votes that are not on the ballot are
// ignored, so a stale row can never show up as an unlabeled bar.
func NewTally(opts Options, votes map[string]int64) Tally {
	t := Tally{Options: make([]Count, len(opts))}
	for i, o := range opts {
		n := votes[o.Key]
		if n < 0 {
			n = 0
		}
		t.Options[i] = Count{Option: o, Votes: n}
		t.Total += n
	}
	t.setPercents()
	return t
}

// setPercents uses the largest remainder method: floor every share, then hand the missing points to
// the largest remainders (ties go to the earlier option). 1 of 3 votes shows as 33/67, never 33/66.
func (t *Tally) setPercents() {
	if t.Total == 0 {
		return
	}
	rem := make([]int64, len(t.Options))
	given := 0
	for i := range t.Options {
		scaled := t.Options[i].Votes * 100
		t.Options[i].Percent = int(scaled / t.Total)
		rem[i] = scaled % t.Total
		given += t.Options[i].Percent
	}
	for ; given < 100; given++ {
		best := -1
		for i := range rem {
			if rem[i] > 0 && (best < 0 || rem[i] > rem[best]) {
				best = i
			}
		}
		if best < 0 {
			break
		}
		t.Options[best].Percent++
		rem[best] = 0
	}
}

// Summary describes the total for people: "No votes yet", "1 vote", "12,345 votes".
func (t Tally) Summary() string {
	if t.Total == 0 {
		return "No votes yet"
	}
	return Votes(t.Total)
}

// Votes says how many votes n (never negative) is: "0 votes", "1 vote", "12,345 votes".
func Votes(n int64) string {
	if n == 1 {
		return "1 vote"
	}
	digits := strconv.FormatInt(n, 10)
	var b strings.Builder
	for i, r := range digits {
		if i > 0 && (len(digits)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return b.String() + " votes"
}

// TopTwo returns the two options with the most votes, most first; among equals, ballot order
// decides. The ballot has at least two options (NewOptions).
func (t Tally) TopTwo() (first, second Count) {
	order := slices.Clone(t.Options)
	slices.SortStableFunc(order, func(a, b Count) int { return cmp.Compare(b.Votes, a.Votes) })
	return order[0], order[1]
}
