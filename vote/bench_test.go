package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-voting-app/voting-app/platform/ballot"
)

// BenchmarkVote is one form vote through the whole router: cookie check, form parsing, an XADD
// to the real Redis over loopback, metrics and the redirect.
func BenchmarkVote(b *testing.B) {
	ts := newTestServer(b)
	cookie := voterCookieOf(ballot.NewVoterID())
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		ts.ServeHTTP(rec, formVote("vote=a", cookie))
		if rec.Code != http.StatusSeeOther {
			b.Fatalf("vote = %d", rec.Code)
		}
	}
}

// BenchmarkVoteParallel shows how votes per second scale with concurrent requests sharing one
// Redis connection pool.
func BenchmarkVoteParallel(b *testing.B) {
	ts := newTestServer(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		cookie := voterCookieOf(ballot.NewVoterID())
		for pb.Next() {
			rec := httptest.NewRecorder()
			ts.ServeHTTP(rec, formVote("vote=b", cookie))
			if rec.Code != http.StatusSeeOther {
				b.Errorf("vote = %d", rec.Code)
				return
			}
		}
	})
}

// BenchmarkBallot is the page a returning voter sees: no Redis, just cookies and rendering.
func BenchmarkBallot(b *testing.B) {
	ts := newTestServer(b)
	cookie := voterCookieOf(ballot.NewVoterID())
	choice := &http.Cookie{Name: choiceCookie, Value: "a"}
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.AddCookie(cookie)
		req.AddCookie(choice)
		rec := httptest.NewRecorder()
		ts.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "You voted") {
			b.Fatalf("ballot = %d", rec.Code)
		}
	}
}
