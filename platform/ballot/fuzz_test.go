package ballot

import "testing"

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
