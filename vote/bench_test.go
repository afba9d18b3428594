package main

import (
	"io"
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

// BenchmarkVoteHTTP is the shape of the vote throughput benchmark (bench/, benchmark 1) inside one
// process, so that it can be profiled: 32 clients posting form votes over real loopback
// connections to the router behind net/http, each vote an XADD to the real Redis.
//
//	go test -run '^$' -bench VoteHTTP -benchtime 5s -cpuprofile cpu.pprof ./vote
func BenchmarkVoteHTTP(b *testing.B) {
	srv := httptest.NewServer(newTestServer(b))
	b.Cleanup(srv.Close)
	const clients = 32
	client := &http.Client{
		Transport:     &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	b.Cleanup(client.CloseIdleConnections)
	b.SetParallelism((clients + 1) / 2) // RunParallel starts this many goroutines per GOMAXPROCS
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		cookie := voterCookieOf(ballot.NewVoterID())
		for pb.Next() {
			req, _ := http.NewRequest(http.MethodPost, srv.URL+"/", strings.NewReader("vote=a"))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.AddCookie(cookie)
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusSeeOther {
				b.Errorf("vote = %d", resp.StatusCode)
				return
			}
		}
	})
}
