package queue

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-voting-app/voting-app/platform/ballot"
)

func TestParseID(t *testing.T) {
	tests := []struct {
		in   string
		want ballot.Position
		ok   bool
	}{
		{"1700000000000-0", pos(1700000000000, 0), true},
		{"0-1", pos(0, 1), true},
		{"1-2-3", pos(0, 0), false},
		{"17", pos(0, 0), false},
		{"-1-0", pos(0, 0), false},
		{"a-0", pos(0, 0), false},
		{"", pos(0, 0), false},
		{"0-0", pos(0, 0), true},
		// Only the canonical text Redis writes: an ID must read back as itself.
		{"00-0", pos(0, 0), false},
		{"1-01", pos(0, 0), false},
		{"+1-0", pos(0, 0), false},
		{"1-+0", pos(0, 0), false},
		{"1-", pos(0, 0), false},
		{"9223372036854775808-0", pos(0, 0), false},
	}
	for _, tt := range tests {
		got, err := ParseID(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseID(%q) = %v, %v", tt.in, got, err)
		}
		if tt.ok && FormatID(got) != tt.in {
			t.Errorf("FormatID = %q, want %q", FormatID(got), tt.in)
		}
	}
	order := []ballot.Position{pos(1, 0), pos(1, 1), pos(1, 10), pos(2, 0), pos(10, 0)}
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
		want    ballot.Vote
		wantErr string
	}{
		{"ours", "1700000000200-3", fields("voter", voter, "vote", "a", "ts", "1700000000123"),
			vote(pos(1700000000200, 3), voter, "a", castAt), ""},
		{"no ts: time from the id", "1700000000123-0", fields("voter", voter, "vote", "b"),
			vote(pos(1700000000123, 0), voter, "b", castAt), ""},
		{"classic voter id", "1700000000200-5", fields("voter", "6f2a9c1e0b7d", "vote", "a", "ts", "1700000000123"),
			vote(pos(1700000000200, 5), "6f2a9c1e0b7d", "a", castAt), ""},
		// Cast times: after the epoch, by the year 9999, at most a day after the entry's time,
		// and any time before it (IDs can run ahead of real time).
		{"cast a day after the entry: clock skew", "1699913600123-0", fields("voter", voter, "vote", "a", "ts", "1700000000123"),
			vote(pos(1699913600123, 0), voter, "a", castAt), ""},
		{"cast a year before the entry", "1731536000123-0", fields("voter", voter, "vote", "a", "ts", "1700000000123"),
			vote(pos(1731536000123, 0), voter, "a", castAt), ""},
		{"cast more than a day after the entry", "1699913600122-0", fields("voter", voter, "vote", "a", "ts", "1700000000123"), ballot.Vote{}, "more than 24h0m0s after"},
		{"cast in the year 3000", "1700000000200-0", fields("voter", voter, "vote", "a", "ts", "32503680000000"), ballot.Vote{}, "after the entry"},
		{"cast after the year 9999", "253402300800000-0", fields("voter", voter, "vote", "a", "ts", "253402300800000"), ballot.Vote{}, "outside the years"},
		{"largest ts", "9223372036854775807-0", fields("voter", voter, "vote", "a", "ts", "9223372036854775807"), ballot.Vote{}, "outside the years"},
		{"no ts, entry time zero", "0-1", fields("voter", voter, "vote", "a"), ballot.Vote{}, "outside the years"},
		{"no ts, entry after the year 9999", "253402300800000-0", fields("voter", voter, "vote", "a"), ballot.Vote{}, "outside the years"},
		{"legacy, entry time zero", "0-1", fields("legacy", `{"voter_id":"abc","vote":"a"}`), ballot.Vote{}, "outside the years"},
		{"legacy payload", "1700000000123-0", fields("legacy", `{"voter_id":"abc123","vote":"b"}`),
			vote(pos(1700000000123, 0), "abc123", "b", castAt), ""},
		{"bad id", "x", fields("voter", voter, "vote", "a"), ballot.Vote{}, "stream id"},
		{"empty voter and option", "1700000000200-0", fields("voter", "", "vote", ""), ballot.Vote{}, "1 to 64"},
		{"empty option", "1700000000200-0", fields("voter", voter, "vote", ""), ballot.Vote{}, `unknown option ""`},
		{"missing voter", "1-0", fields("vote", "a"), ballot.Vote{}, "missing field voter"},
		{"missing vote", "1-0", fields("voter", voter), ballot.Vote{}, "missing field vote"},
		{"voter not a string", "1-0", map[string]any{"voter": 12, "vote": "a"}, ballot.Vote{}, "not a string"},
		{"empty voter", "1-0", fields("voter", "", "vote", "a"), ballot.Vote{}, "1 to 64"},
		{"over-long voter", "1-0", fields("voter", strings.Repeat("a", 65), "vote", "a"), ballot.Vote{}, "1 to 64"},
		{"megabyte voter", "1-0", fields("voter", strings.Repeat("a", 1<<20), "vote", "a"), ballot.Vote{}, "1 to 64"},
		{"voter with quote", "1-0", fields("voter", "abc'; DROP TABLE votes;--", "vote", "a"), ballot.Vote{}, "character outside"},
		{"unknown option", "1-0", fields("voter", voter, "vote", "c"), ballot.Vote{}, `unknown option "c"`},
		{"option is a label", "1-0", fields("voter", voter, "vote", "Cats"), ballot.Vote{}, "unknown option"},
		{"huge option is truncated in the reason", "1-0", fields("voter", voter, "vote", strings.Repeat("z", 1000)), ballot.Vote{}, "zzzz…"},
		{"bad ts", "1-0", fields("voter", voter, "vote", "a", "ts", "yesterday"), ballot.Vote{}, "field ts"},
		{"negative ts", "1-0", fields("voter", voter, "vote", "a", "ts", "-5"), ballot.Vote{}, "field ts"},
		{"cast from the inbox", "1700000000200-3", fields("cast", `{"voter":"`+voter+`","vote":"a","ts":1700000000123}`),
			vote(pos(1700000000200, 3), voter, "a", castAt), ""},
		{"cast with another field", "1700000000200-0", fields("cast", `{"voter":"`+voter+`","vote":"a","ts":1700000000123,"x":1}`), ballot.Vote{}, "not the JSON object"},
		{"cast with data after it", "1700000000200-0", fields("cast", `{"voter":"`+voter+`","vote":"a","ts":1700000000123} {}`), ballot.Vote{}, "data after"},
		{"cast without ts", "1700000000200-0", fields("cast", `{"voter":"`+voter+`","vote":"a"}`), ballot.Vote{}, "needs voter, vote and ts"},
		{"cast with a string ts", "1700000000200-0", fields("cast", `{"voter":"`+voter+`","vote":"a","ts":"1"}`), ballot.Vote{}, "not the JSON object"},
		{"cast with a future ts", "1700000000200-0", fields("cast", `{"voter":"`+voter+`","vote":"a","ts":32503680000000}`), ballot.Vote{}, "after the entry"},
		{"cast with a negative ts", "1700000000200-0", fields("cast", `{"voter":"`+voter+`","vote":"a","ts":-1}`), ballot.Vote{}, "not a positive"},
		{"cast of a megabyte", "1700000000200-0", fields("cast", `{"voter":"`+strings.Repeat("a", 1<<20)+`"}`), ballot.Vote{}, "at most 512"},
		{"cast not json", "1700000000200-0", fields("cast", "voter=a"), ballot.Vote{}, "not the JSON object"},
		{"cast with a bad voter", "1700000000200-0", fields("cast", `{"voter":"a b","vote":"a","ts":1700000000123}`), ballot.Vote{}, "character outside"},
		{"legacy not json", "1-0", fields("legacy", `{"voter_id":`), ballot.Vote{}, "not JSON"},
		{"legacy missing vote", "1-0", fields("legacy", `{"voter_id":"abc"}`), ballot.Vote{}, "needs string fields"},
		{"legacy wrong types", "1-0", fields("legacy", `{"voter_id":1,"vote":"a"}`), ballot.Vote{}, "not JSON"},
		{"legacy unknown option", "1-0", fields("legacy", `{"voter_id":"abc","vote":"x"}`), ballot.Vote{}, "unknown option"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode(Entry{tt.id, tt.fields})
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

func TestCastRoundTrip(t *testing.T) {
	id := ballot.NewVoterID()
	at := time.UnixMilli(1700000000999)
	f := Cast{Voter: id, Option: "b", At: at}.values()
	m := map[string]any{}
	for i := 0; i < len(f); i += 2 {
		m[f[i]] = f[i+1]
	}
	got, err := Decode(Entry{"1700000001000-0", m})
	if err != nil {
		t.Fatal(err)
	}
	if got.Voter != string(id) || got.Option != "b" || !got.CastAt.Equal(at) {
		t.Fatalf("round trip: %+v", got)
	}
}

func pos(ms, seq int64) ballot.Position { return ballot.Position{Ms: ms, Seq: seq} }

func vote(p ballot.Position, voter, option string, at time.Time) ballot.Vote {
	return ballot.Vote{Position: p, Voter: voter, Option: option, CastAt: at}
}
