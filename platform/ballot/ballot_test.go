package ballot

import (
	"errors"
	"strings"
	"testing"
	"time"
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

func TestStreamID(t *testing.T) {
	tests := []struct {
		in   string
		want StreamID
		ok   bool
	}{
		{"1700000000000-0", StreamID{1700000000000, 0}, true},
		{"0-1", StreamID{0, 1}, true},
		{"1-2-3", StreamID{}, false},
		{"17", StreamID{}, false},
		{"-1-0", StreamID{}, false},
		{"a-0", StreamID{}, false},
		{"", StreamID{}, false},
		{"0-0", StreamID{0, 0}, true},
		// Only the canonical text Redis writes: an ID must read back as itself.
		{"00-0", StreamID{}, false},
		{"1-01", StreamID{}, false},
		{"+1-0", StreamID{}, false},
		{"1-+0", StreamID{}, false},
		{"1-", StreamID{}, false},
		{"9223372036854775808-0", StreamID{}, false},
	}
	for _, tt := range tests {
		got, err := ParseStreamID(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseStreamID(%q) = %v, %v", tt.in, got, err)
		}
		if tt.ok && got.String() != tt.in {
			t.Errorf("String() = %q, want %q", got.String(), tt.in)
		}
	}
	order := []StreamID{{1, 0}, {1, 1}, {1, 10}, {2, 0}, {10, 0}}
	for i := range order {
		for j := range order {
			if got := order[i].Less(order[j]); got != (i < j) {
				t.Errorf("%v.Less(%v) = %v", order[i], order[j], got)
			}
		}
	}
}

func fields(kv ...string) map[string]any {
	m := map[string]any{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

func TestDecodeEntry(t *testing.T) {
	const voter = "0123456789abcdef0123456789abcdef"
	castAt := time.UnixMilli(1700000000123).UTC()
	tests := []struct {
		name    string
		id      string
		fields  map[string]any
		want    Vote
		wantErr string
	}{
		{"ours", "1700000000200-3", fields("voter", voter, "vote", "a", "ts", "1700000000123"),
			Vote{StreamID{1700000000200, 3}, voter, "a", castAt}, ""},
		{"no ts: time from the id", "1700000000123-0", fields("voter", voter, "vote", "b"),
			Vote{StreamID{1700000000123, 0}, voter, "b", castAt}, ""},
		{"classic voter id", "5-0", fields("voter", "6f2a9c1e0b7d", "vote", "a", "ts", "1700000000123"),
			Vote{StreamID{5, 0}, "6f2a9c1e0b7d", "a", castAt}, ""},
		{"legacy payload", "1700000000123-0", fields("legacy", `{"voter_id":"abc123","vote":"b"}`),
			Vote{StreamID{1700000000123, 0}, "abc123", "b", castAt}, ""},
		{"bad id", "x", fields("voter", voter, "vote", "a"), Vote{}, "stream id"},
		{"missing voter", "1-0", fields("vote", "a"), Vote{}, "missing field voter"},
		{"missing vote", "1-0", fields("voter", voter), Vote{}, "missing field vote"},
		{"voter not a string", "1-0", map[string]any{"voter": 12, "vote": "a"}, Vote{}, "not a string"},
		{"empty voter", "1-0", fields("voter", "", "vote", "a"), Vote{}, "1 to 64"},
		{"over-long voter", "1-0", fields("voter", strings.Repeat("a", 65), "vote", "a"), Vote{}, "1 to 64"},
		{"megabyte voter", "1-0", fields("voter", strings.Repeat("a", 1<<20), "vote", "a"), Vote{}, "1 to 64"},
		{"voter with quote", "1-0", fields("voter", "abc'; DROP TABLE votes;--", "vote", "a"), Vote{}, "character outside"},
		{"unknown option", "1-0", fields("voter", voter, "vote", "c"), Vote{}, `unknown option "c"`},
		{"option is a label", "1-0", fields("voter", voter, "vote", "Cats"), Vote{}, "unknown option"},
		{"huge option is truncated in the reason", "1-0", fields("voter", voter, "vote", strings.Repeat("z", 1000)), Vote{}, "zzzz…"},
		{"bad ts", "1-0", fields("voter", voter, "vote", "a", "ts", "yesterday"), Vote{}, "field ts"},
		{"negative ts", "1-0", fields("voter", voter, "vote", "a", "ts", "-5"), Vote{}, "field ts"},
		{"legacy not json", "1-0", fields("legacy", `{"voter_id":`), Vote{}, "not JSON"},
		{"legacy missing vote", "1-0", fields("legacy", `{"voter_id":"abc"}`), Vote{}, "needs string fields"},
		{"legacy wrong types", "1-0", fields("legacy", `{"voter_id":1,"vote":"a"}`), Vote{}, "not JSON"},
		{"legacy unknown option", "1-0", fields("legacy", `{"voter_id":"abc","vote":"x"}`), Vote{}, "unknown option"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeEntry(tt.id, tt.fields)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if got != tt.want {
					t.Fatalf("got %+v, want %+v", got, tt.want)
				}
				return
			}
			var de *DecodeError
			if !errors.As(err, &de) || !strings.Contains(de.Reason, tt.wantErr) {
				t.Fatalf("error %v, want a DecodeError containing %q", err, tt.wantErr)
			}
			if len(de.Reason) > 200 {
				t.Fatalf("reason is %d bytes; keep dead-letter reasons short", len(de.Reason))
			}
		})
	}
}

func TestEntryFieldsRoundTrip(t *testing.T) {
	id := NewVoterID()
	at := time.UnixMilli(1700000000999)
	f := EntryFields(id, "b", at)
	m := map[string]any{}
	for i := 0; i < len(f); i += 2 {
		m[f[i]] = f[i+1]
	}
	got, err := DecodeEntry("1700000001000-0", m)
	if err != nil {
		t.Fatal(err)
	}
	if got.Voter != string(id) || got.Option != "b" || !got.CastAt.Equal(at) {
		t.Fatalf("round trip: %+v", got)
	}
}

func TestLatest(t *testing.T) {
	v := func(ms int64, voter, opt string) Vote { return Vote{ID: StreamID{ms, 0}, Voter: voter, Option: opt} }
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
