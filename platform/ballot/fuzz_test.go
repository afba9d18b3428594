package ballot

import (
	"errors"
	"testing"
)

// FuzzDecodeEntry: whatever arrives on the stream, decoding returns a valid vote or a DecodeError,
// never panics, and a valid vote satisfies every invariant the database relies on.
func FuzzDecodeEntry(f *testing.F) {
	f.Add("1700000000000-0", "0123456789abcdef0123456789abcdef", "a", "1700000000000", "")
	f.Add("1-0", "abc", "b", "", "")
	f.Add("1-0", "", "", "", `{"voter_id":"x","vote":"a"}`)
	f.Add("1-0", "x", "c", "-1", "")
	f.Add("99999999999999999999-0", "a", "a", "1", "")
	f.Fuzz(func(t *testing.T, id, voter, option, ts, legacy string) {
		m := map[string]any{}
		if legacy != "" {
			m[FieldLegacy] = legacy
		} else {
			m[FieldVoter], m[FieldOption] = voter, option
			if ts != "" {
				m[FieldCastAt] = ts
			}
		}
		v, err := DecodeEntry(id, m)
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) || de.Kind == "" {
				t.Fatalf("error is not a DecodeError with a kind: %v", err)
			}
			return
		}
		if !ValidKey(v.Option) || v.Voter == "" || len(v.Voter) > MaxEntryVoterLen {
			t.Fatalf("invalid vote accepted: %+v", v)
		}
		if v.ID.String() != id {
			t.Fatalf("id %q decoded as %v", id, v.ID)
		}
	})
}

// FuzzParseVoterID: only IDs of the issued shape pass, and they pass unchanged.
func FuzzParseVoterID(f *testing.F) {
	f.Add("0123456789abcdef0123456789abcdef")
	f.Add("")
	f.Add("0123456789ABCDEF0123456789ABCDEF")
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseVoterID(s)
		if err != nil {
			return
		}
		if string(id) != s || len(s) != 32 {
			t.Fatalf("accepted %q", s)
		}
		for _, c := range s {
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
				t.Fatalf("accepted %q", s)
			}
		}
	})
}
