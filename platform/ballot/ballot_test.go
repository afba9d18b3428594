package ballot

import (
	"errors"
	"strings"
	"testing"
)

func TestNewOptions(t *testing.T) {
	tests := []struct {
		a, b    string
		wantErr string
	}{
		{"Cats", "Dogs", ""},
		{"Tabs", "Spaces", ""},
		{"Über", "Ünter", ""},
		{"", "Dogs", "is empty"},
		{"Cats", "   ", "is empty"},
		{"Cats", "cats", "same label"},
		{strings.Repeat("x", 65), "Dogs", "longer than 64"},
		{"Cats\x00", "Dogs", "unprintable"},
		{"Cats", "\xff", "not valid UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.a+"/"+tt.b, func(t *testing.T) {
			opts, err := NewOptions(tt.a, tt.b)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if opts[0] != (Option{"a", tt.a}) || opts[1] != (Option{"b", tt.b}) {
					t.Fatalf("got %v", opts)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestVoterID(t *testing.T) {
	seen := map[VoterID]bool{}
	for range 1000 {
		id := NewVoterID()
		if _, err := ParseVoterID(string(id)); err != nil {
			t.Fatalf("a fresh id %q does not parse: %v", id, err)
		}
		if seen[id] {
			t.Fatalf("duplicate id %q", id)
		}
		seen[id] = true
	}
	bad := []string{
		"",
		"0123456789abcdef0123456789abcde",   // 31
		"0123456789abcdef0123456789abcdef0", // 33
		"0123456789ABCDEF0123456789ABCDEF",  // upper case is not what we issue
		"0123456789abcdef0123456789abcdeg",
		"0123456789abcdef0123456789abcd\"e",
		"0123456789abcdef0123456789abcd;e",
		strings.Repeat("a", 4096),
	}
	for _, s := range bad {
		if _, err := ParseVoterID(s); !errors.Is(err, ErrBadVoterID) {
			t.Errorf("ParseVoterID(%q) = %v, want ErrBadVoterID", s, err)
		}
	}
}

func TestRedact(t *testing.T) {
	if got := Redact("0123456789abcdef0123456789abcdef"); got != "01234567…" {
		t.Fatalf("got %q", got)
	}
	if got := Redact("short"); got != "…" {
		t.Fatalf("short ids must not be shown whole, got %q", got)
	}
}

func TestLatest(t *testing.T) {
	v := func(ms int64, voter, opt string) Vote {
		return Vote{Position: Position{ms, 0}, Voter: voter, Option: opt}
	}
	tests := []struct {
		name string
		in   []Vote
		want map[string]string
	}{
		{"empty", nil, map[string]string{}},
		{"in order", []Vote{v(1, "x", "a"), v(2, "x", "b")}, map[string]string{"x": "b"}},
		{"out of order: later id wins", []Vote{v(2, "x", "b"), v(1, "x", "a")}, map[string]string{"x": "b"}},
		{"several voters", []Vote{v(1, "x", "a"), v(2, "y", "b"), v(3, "x", "b"), v(4, "y", "a"), v(0, "y", "b")},
			map[string]string{"x": "b", "y": "a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Latest(tt.in)
			if len(got) != len(tt.want) {
				t.Fatalf("got %d votes, want %d", len(got), len(tt.want))
			}
			for _, g := range got {
				if tt.want[g.Voter] != g.Option {
					t.Errorf("voter %s: got %s, want %s", g.Voter, g.Option, tt.want[g.Voter])
				}
			}
		})
	}
}

func TestTally(t *testing.T) {
	opts, _ := NewOptions("Cats", "Dogs")
	tests := []struct {
		name     string
		votes    map[string]int64
		percents [2]int
		summary  string
	}{
		{"no votes", nil, [2]int{0, 0}, "No votes yet"},
		{"one vote", map[string]int64{"a": 1}, [2]int{100, 0}, "1 vote"},
		{"tie", map[string]int64{"a": 5, "b": 5}, [2]int{50, 50}, "10 votes"},
		{"thirds add up to 100", map[string]int64{"a": 1, "b": 2}, [2]int{33, 67}, "3 votes"},
		{"two thirds first", map[string]int64{"a": 2, "b": 1}, [2]int{67, 33}, "3 votes"},
		{"tiny share is not rounded away from the total", map[string]int64{"a": 1, "b": 999}, [2]int{0, 100}, "1,000 votes"},
		{"unknown keys ignored", map[string]int64{"a": 3, "zzz": 100}, [2]int{100, 0}, "3 votes"},
		{"huge counts", map[string]int64{"a": 3_000_000_000, "b": 1_000_000_000}, [2]int{75, 25}, "4,000,000,000 votes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tl := NewTally(opts, tt.votes)
			if got := [2]int{tl.Options[0].Percent, tl.Options[1].Percent}; got != tt.percents {
				t.Errorf("percents %v, want %v", got, tt.percents)
			}
			if tl.Summary() != tt.summary {
				t.Errorf("summary %q, want %q", tl.Summary(), tt.summary)
			}
			if tl.Options[0].Label != "Cats" || tl.Options[1].Label != "Dogs" {
				t.Errorf("labels lost: %+v", tl.Options)
			}
		})
	}
}

func TestVotes(t *testing.T) {
	tests := []struct {
		n    int64
		want string
	}{{0, "0 votes"}, {1, "1 vote"}, {2, "2 votes"}, {999, "999 votes"}, {1000, "1,000 votes"},
		{123456, "123,456 votes"}, {1234567, "1,234,567 votes"}}
	for _, tt := range tests {
		if got := Votes(tt.n); got != tt.want {
			t.Errorf("Votes(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}
