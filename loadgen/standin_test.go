package main

import (
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/go-voting-app/voting-app/platform/ballot"
)

// standIn plays the vote service's voting routes and the result service's /api/results over one
// map of voter → option, so a test knows exactly what was applied. It is a fixture for the load
// tool, not a model of vote: faults are switched on per test.
type standIn struct {
	srv *httptest.Server

	mu    sync.Mutex
	votes map[string]string // voter id → option, last applied vote wins
	posts int               // vote requests seen
	gets  int               // GET / seen
	// Faults, by the number of the vote request (1-based); 0 turns a fault off.
	loseEvery    int // answer as accepted but do not apply
	failEvery    int // answer 503; apply every other one of these (a queue reply that timed out)
	hangEvery    int // apply, then answer only after the client has given up
	notReadyGets int // answer the first GET / with 503
	onPost       func(n int)
}

func newStandIn(t *testing.T) *standIn {
	s := &standIn{votes: make(map[string]string)}
	mux := http.NewServeMux()
	// As the vote service does: browsers' cross-site posts are refused, programs' are not.
	origin := http.NewCrossOriginProtection()
	mux.Handle("POST /{$}", origin.Handler(s.vote(http.StatusSeeOther, func(r *http.Request) string {
		if r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
			return ""
		}
		return r.PostFormValue("vote")
	})))
	mux.Handle("POST /api/v1/votes", origin.Handler(s.vote(http.StatusAccepted, func(r *http.Request) string {
		var body struct {
			Vote string `json:"vote"`
		}
		if r.Header.Get("Content-Type") != "application/json" || json.NewDecoder(r.Body).Decode(&body) != nil {
			return ""
		}
		return body.Vote
	})))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.gets++
		notReady := s.gets <= s.notReadyGets
		s.mu.Unlock()
		if notReady {
			http.Error(w, "starting", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ballot"))
	})
	mux.HandleFunc("GET /api/results", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(ballot.NewTally(mustOptions(), s.tally()))
	})
	s.srv = httptest.NewServer(mux)
	t.Cleanup(s.srv.Close)
	return s
}

func mustOptions() ballot.Options {
	opts, err := ballot.NewOptions("Cats", "Dogs")
	if err != nil {
		panic(err)
	}
	return opts
}

func (s *standIn) vote(accepted int, option func(*http.Request) string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		voter := ""
		if c, err := r.Cookie(voterCookie); err == nil {
			if id, err := ballot.ParseVoterID(c.Value); err == nil {
				voter = string(id)
			}
		}
		if voter == "" {
			voter = string(ballot.NewVoterID())
			http.SetCookie(w, &http.Cookie{Name: voterCookie, Value: voter, Path: "/", HttpOnly: true})
		}
		opt := option(r)
		if !ballot.ValidKey(opt) {
			http.Error(w, "not an option", http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		s.posts++
		n := s.posts
		apply, status, hang := true, accepted, false
		switch {
		case every(n, s.loseEvery):
			apply = false
		case every(n, s.failEvery):
			apply, status = (n/s.failEvery)%2 == 1, http.StatusServiceUnavailable
		case every(n, s.hangEvery):
			hang = true
		}
		if apply {
			s.votes[voter] = opt
		}
		onPost := s.onPost
		s.mu.Unlock()
		if onPost != nil {
			onPost(n)
		}
		if hang {
			<-r.Context().Done() // the client timed out and closed the connection
			return
		}
		if status == http.StatusSeeOther {
			http.Redirect(w, r, "/", status)
			return
		}
		w.WriteHeader(status)
	}
}

func every(n, k int) bool { return k > 0 && n%k == 0 }

func (s *standIn) tally() map[string]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := make(map[string]int64)
	for _, o := range s.votes {
		t[o]++
	}
	return t
}

// requests returns how many votes and GET / the stand-in has seen.
func (s *standIn) requests() (posts, gets int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.posts, s.gets
}

func (s *standIn) applied() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.votes)
}
