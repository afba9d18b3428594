package main

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-voting-app/voting-app/platform/ballot"
)

// The seeds run as ordinary tests; go test -fuzz=FuzzX explores from them.

func FuzzFormChoice(f *testing.F) {
	for _, seed := range []struct{ contentType, body string }{
		{"application/x-www-form-urlencoded", "vote=a"},
		{"application/x-www-form-urlencoded; charset=UTF-8", "vote=b"},
		{"application/x-www-form-urlencoded", "vote=a&vote=b"},
		{"application/x-www-form-urlencoded", "vote=%zz"},
		{"application/x-www-form-urlencoded", "vote=a;vote=b"},
		{"application/x-www-form-urlencoded", "vote=%00"},
		{"application/x-www-form-urlencoded", "vote=" + strings.Repeat("a", maxBody)},
		{"Application/X-WWW-Form-Urlencoded", "vote=a"},
		{"application/x-www-form-urlencoded;", "vote=a"},
		{"multipart/form-data; boundary=x", "--x\r\nContent-Disposition: form-data; name=\"vote\"\r\n\r\na\r\n--x--"},
		{"text/plain", "vote=a"},
		{"", ""},
	} {
		f.Add(seed.contentType, seed.body)
	}
	opts := defaultOptions(f)
	f.Fuzz(func(t *testing.T, contentType, body string) {
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		opt, err := formChoice(httptest.NewRecorder(), req, opts)
		checkChoice(t, opts, opt, err)
		if err == nil && len(body) > maxBody {
			t.Errorf("accepted a body of %d bytes", len(body))
		}
	})
}

func FuzzJSONChoice(f *testing.F) {
	for _, seed := range []string{
		`{"vote":"a"}`, `{"vote":"b"}`, ` {"vote" : "a"} `, `{"vote":"c"}`, `{}`, `{"vote":null}`,
		`{"vote":"a","x":1}`, `{"vote":"a"}{"vote":"b"}`, `{"vote":"\u0061"}`, `{"Vote":"a"}`,
		`[]`, `"a"`, `null`, ``, `{"vote":"` + strings.Repeat("a", maxBody) + `"}`,
	} {
		f.Add(seed)
	}
	opts := defaultOptions(f)
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest(http.MethodPost, "/api/v1/votes", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		opt, err := jsonChoice(httptest.NewRecorder(), req, opts)
		checkChoice(t, opts, opt, err)
	})
}

// checkChoice holds for any request: either an option on the ballot, or a request error the
// client can be told about. Nothing a client sends is an internal error.
func checkChoice(t *testing.T, opts ballot.Options, opt ballot.Option, err error) {
	t.Helper()
	if err != nil {
		if _, ok := errors.AsType[*requestError](err); !ok {
			t.Fatalf("error %v (%T) is not a request error", err, err)
		}
		if o := classify(err); o.Status < 400 || o.Status >= 500 || o.reason == "" {
			t.Fatalf("error %v classified as %+v", err, o)
		}
		return
	}
	if got, ok := opts.Find(opt.Key); !ok || got != opt {
		t.Fatalf("chose %+v, which is not on the ballot", opt)
	}
}

func FuzzVoterCookie(f *testing.F) {
	valid := string(ballot.NewVoterID())
	for _, seed := range []string{
		"voter_id=" + valid,
		"voter_id=" + strings.ToUpper(valid),
		"voter_id=" + valid[:16],
		"voter_id=junk; voter_id=" + valid,
		`voter_id="` + valid + `"`,
		"voter_id=" + valid + "; voted=a",
		"voted=b; voter_id=" + valid + "; voted=c",
		"voter_id=" + strings.Repeat("f", 4096),
		"voter_id=%30%30",
		"voter_id",
		"",
		";;;=;",
	} {
		f.Add(seed)
	}
	opts := defaultOptions(f)
	f.Fuzz(func(t *testing.T, header string) {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Header.Set("Cookie", header)
		rec := httptest.NewRecorder()
		id, issued := cookiePolicy{}.voter(rec, req)

		if _, err := ballot.ParseVoterID(string(id)); err != nil {
			t.Fatalf("voter id %q from cookie header %q: %v", id, header, err)
		}
		set := cookieNamed(rec.Result(), voterCookie)
		switch {
		case issued && (set == nil || set.Value != string(id)):
			t.Fatalf("issued %q but set cookie %v", id, set)
		case !issued && set != nil:
			t.Fatalf("kept %q but set cookie %v", id, set)
		case !issued && !strings.Contains(header, string(id)):
			t.Fatalf("kept id %q that the header %q does not carry", id, header)
		}

		if opt, ok := choiceOf(req, opts); ok {
			if _, onBallot := opts.Find(opt.Key); !onBallot {
				t.Fatalf("choice %+v is not on the ballot", opt)
			}
		}
	})
}
