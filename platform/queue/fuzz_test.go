package queue

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-voting-app/voting-app/platform/ballot"
)

// FuzzDecodeEntry: whatever arrives on the stream, decoding returns a valid vote or a DecodeError,
// never panics, and a valid vote satisfies every invariant the database relies on, its cast time
// within the bounds Postgres can store and the entry allows.
func FuzzDecodeEntry(f *testing.F) {
	f.Add("1700000000000-0", "0123456789abcdef0123456789abcdef", "a", "1700000000000", "")
	f.Add("1-0", "abc", "b", "", "")
	f.Add("1-0", "", "", "", `{"voter_id":"x","vote":"a"}`)
	f.Add("1-0", "x", "c", "-1", "")
	f.Add("99999999999999999999-0", "a", "a", "1", "")
	f.Add("1700000000000-0", "v", "a", "9223372036854775807", "")
	f.Add("253402300800000-0", "v", "b", "", "")
	f.Add("1700000000000-0", "", "", "", `{"voter":"0123456789abcdef0123456789abcdef","vote":"a","ts":1700000000000}`)
	f.Fuzz(func(t *testing.T, id, voter, option, ts, legacy string) {
		m := map[string]any{}
		switch {
		case strings.HasPrefix(legacy, "{\"voter\""):
			m[FieldCast] = legacy
		case legacy != "":
			m[FieldLegacy] = legacy
		default:
			m[FieldVoter], m[FieldOption] = voter, option
			if ts != "" {
				m[FieldCastAt] = ts
			}
		}
		v, err := Decode(Entry{id, m})
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) || !slices.Contains(Kinds, de.Kind) {
				t.Fatalf("error is not a DecodeError with one of the Kinds: %v", err)
			}
			return
		}
		if !ballot.ValidKey(v.Option) || v.Voter == "" || len(v.Voter) > MaxEntryVoterLen {
			t.Fatalf("invalid vote accepted: %+v", v)
		}
		if ms := v.CastAt.UnixMilli(); ms <= 0 || v.CastAt.After(maxCastAt) ||
			v.CastAt.Sub(time.UnixMilli(v.Position.Ms)) > MaxCastAhead {
			t.Fatalf("cast time out of bounds accepted: %+v", v)
		}
		if FormatID(v.Position) != id {
			t.Fatalf("id %q decoded as %v", id, v.Position)
		}
	})
}
