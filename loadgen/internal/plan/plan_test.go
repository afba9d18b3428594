package plan

import (
	"math"
	"slices"
	"testing"

	"github.com/go-voting-app/voting-app/platform/ballot"
)

func TestPlanCounts(t *testing.T) {
	tests := []struct {
		name string
		s    Settings
	}{
		{"more votes than voters", Settings{Voters: 2000, Votes: 10000, Change: 0.3, Split: 0.6, Seed: 1}},
		{"changes only after everyone voted", Settings{Voters: 500, Votes: 2000, Change: 0, Split: 0.5, Seed: 2}},
		{"a high change share still lets everyone vote", Settings{Voters: 1000, Votes: 1200, Change: 0.9, Split: 0.5, Seed: 3}},
		{"fewer votes than voters", Settings{Voters: 1000, Votes: 300, Change: 0.3, Split: 0.5, Seed: 4}},
		{"one voter", Settings{Voters: 1, Votes: 50, Change: 0.5, Split: 1, Seed: 5}},
		{"as many votes as voters", Settings{Voters: 100, Votes: 100, Change: 0.5, Split: 0, Seed: 6}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			votes := drain(t, tt.s, 0)
			wantFirsts, wantChanges := tt.s.Counts()
			if len(votes) != tt.s.Votes {
				t.Fatalf("%d votes, want %d", len(votes), tt.s.Votes)
			}
			voted := make([]bool, tt.s.Voters)
			firsts, changes := 0, 0
			for i, v := range votes {
				if v.Voter < 0 || v.Voter >= tt.s.Voters {
					t.Fatalf("vote %d: voter %d out of range", i, v.Voter)
				}
				if v.Option != ballot.KeyA && v.Option != ballot.KeyB {
					t.Fatalf("vote %d: option %q", i, v.Option)
				}
				if v.Change != voted[v.Voter] {
					t.Fatalf("vote %d: change=%v but the voter voted before: %v", i, v.Change, voted[v.Voter])
				}
				if v.Change {
					changes++
				} else {
					firsts++
				}
				voted[v.Voter] = true
			}
			if firsts != wantFirsts || changes != wantChanges {
				t.Fatalf("%d first votes and %d changes, want %d and %d", firsts, changes, wantFirsts, wantChanges)
			}
			if tt.s.Split == 0 || tt.s.Split == 1 {
				want := map[float64]string{0: ballot.KeyB, 1: ballot.KeyA}[tt.s.Split]
				for _, v := range votes {
					if v.Option != want {
						t.Fatalf("split %v gave a vote for %s", tt.s.Split, v.Option)
					}
				}
			}
		})
	}
}

// The shares are random, but a fixed seed makes them fixed too; the bounds are several standard
// deviations wide so that they hold for any seed with near certainty.
func TestPlanShares(t *testing.T) {
	s := Settings{Voters: 50_000, Votes: 0, Change: 0.3, Split: 0.6, Seed: 7}
	const n = 40_000 // fewer than the voters: every vote is drawn with the change share
	votes := drain(t, s, n)
	a, changes := 0, 0
	for _, v := range votes {
		if v.Option == ballot.KeyA {
			a++
		}
		if v.Change {
			changes++
		}
	}
	for _, c := range []struct {
		what      string
		got, want float64
	}{
		{"share of a", float64(a) / n, s.Split},
		{"share of changes", float64(changes) / n, s.Change},
	} {
		if sd := math.Sqrt(c.want * (1 - c.want) / n); math.Abs(c.got-c.want) > 5*sd {
			t.Errorf("%s %.4f, want %.2f ± %.4f", c.what, c.got, c.want, 5*sd)
		}
	}
}

func TestPlanEndless(t *testing.T) {
	s := Settings{Voters: 10, Votes: 0, Change: 0.5, Split: 0.5, Seed: 8}
	votes := drain(t, s, 1000)
	if len(votes) != 1000 {
		t.Fatalf("an endless plan ended after %d votes", len(votes))
	}
	if firsts := len(votes) - countChanges(votes); firsts != s.Voters {
		t.Fatalf("%d first votes, want one per voter (%d)", firsts, s.Voters)
	}
}

func TestPlanDeterminism(t *testing.T) {
	s := Settings{Voters: 300, Votes: 3000, Change: 0.3, Split: 0.5, Seed: 42}
	first, again := drain(t, s, 0), drain(t, s, 0)
	if !slices.Equal(first, again) {
		t.Fatal("the same seed gave two different plans")
	}
	s.Seed++
	if slices.Equal(first, drain(t, s, 0)) {
		t.Fatal("another seed gave the same plan")
	}
}

func TestSettingsValidate(t *testing.T) {
	ok := Settings{Voters: 1, Votes: 0, Change: 0, Split: 0}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid settings refused: %v", err)
	}
	bad := []Settings{
		{Voters: 0, Split: 0.5},
		{Voters: 1, Votes: -1, Split: 0.5},
		{Voters: 1, Change: 1, Split: 0.5},
		{Voters: 1, Change: -0.1, Split: 0.5},
		{Voters: 1, Split: 1.5},
		{Voters: 1, Split: math.NaN()},
	}
	for _, s := range bad {
		if _, err := New(s); err == nil {
			t.Errorf("%+v accepted", s)
		}
	}
}

// drain returns the whole plan, or its first limit votes when limit > 0.
func drain(t *testing.T, s Settings, limit int) []Vote {
	t.Helper()
	p, err := New(s)
	if err != nil {
		t.Fatal(err)
	}
	var votes []Vote
	for v, ok := p.Next(); ok; v, ok = p.Next() {
		votes = append(votes, v)
		if limit > 0 && len(votes) == limit {
			break
		}
	}
	return votes
}

func countChanges(votes []Vote) int {
	n := 0
	for _, v := range votes {
		if v.Change {
			n++
		}
	}
	return n
}
