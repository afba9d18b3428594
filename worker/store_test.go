package main

import (
	"context"
	"testing"
	"time"

	"github.com/go-voting-app/voting-app/platform/ballot"
)

func vote(ms int64, voter, option string) ballot.Vote {
	return ballot.Vote{ID: ballot.StreamID{Ms: ms}, Voter: voter, Option: option, CastAt: time.UnixMilli(ms).UTC()}
}

func TestApplyLastVoteWinsWhateverTheBatchOrder(t *testing.T) {
	tests := []struct {
		name    string
		batches [][]ballot.Vote
		want    map[string]string
	}{
		{"in order", [][]ballot.Vote{
			{vote(1, "x", "a")}, {vote(2, "x", "b")},
		}, map[string]string{"x": "b"}},
		{"newer batch first, older second", [][]ballot.Vote{
			{vote(2, "x", "b"), vote(5, "y", "a")}, {vote(1, "x", "a"), vote(3, "y", "b")},
		}, map[string]string{"x": "b", "y": "a"}},
		{"inside one batch, out of order", [][]ballot.Vote{
			{vote(9, "x", "a"), vote(4, "x", "b"), vote(7, "x", "b")},
		}, map[string]string{"x": "a"}},
		{"same millisecond, sequence decides", [][]ballot.Vote{
			{{ID: ballot.StreamID{Ms: 5, Seq: 1}, Voter: "x", Option: "b", CastAt: time.UnixMilli(5)}},
			{{ID: ballot.StreamID{Ms: 5, Seq: 0}, Voter: "x", Option: "a", CastAt: time.UnixMilli(5)}},
		}, map[string]string{"x": "b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := defaultRig(t)
			s := &Store{pool: r.pool}
			for _, b := range tt.batches {
				if _, err := s.Apply(context.Background(), b); err != nil {
					t.Fatal(err)
				}
			}
			if got := r.stored(); !equalVotes(got, tt.want) {
				t.Fatalf("stored %v, want %v", got, tt.want)
			}
			r.checkTotals(tt.want)
		})
	}
}

func TestApplyReplayChangesNothing(t *testing.T) {
	r := defaultRig(t)
	s := &Store{pool: r.pool}
	ctx := context.Background()
	batch := []ballot.Vote{vote(1, "x", "a"), vote(2, "y", "b"), vote(3, "x", "b"), vote(4, "z", "a")}
	changed, err := s.Apply(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	if changed != 3 {
		t.Fatalf("first apply changed %d voters, want 3", changed)
	}
	before, history := r.stored(), r.historyCount()
	for range 3 {
		changed, err := s.Apply(ctx, batch)
		if err != nil {
			t.Fatal(err)
		}
		if changed != 0 {
			t.Fatalf("replay changed %d voters, want 0", changed)
		}
	}
	if got := r.stored(); !equalVotes(got, before) {
		t.Fatalf("replay changed votes: %v, before %v", got, before)
	}
	if h := r.historyCount(); h != history || h != int64(len(batch)) {
		t.Fatalf("history has %d rows after replays, want %d", h, len(batch))
	}
	r.checkTotals(before)
}

// A failed transaction leaves no trace: neither votes nor history.
func TestApplyIsAllOrNothing(t *testing.T) {
	r := defaultRig(t)
	s := &Store{pool: r.pool}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Apply(ctx, []ballot.Vote{vote(1, "x", "a")}); err == nil {
		t.Fatal("apply with a cancelled context succeeded")
	}
	if len(r.stored()) != 0 || r.historyCount() != 0 {
		t.Fatal("a failed apply left rows behind")
	}
}
