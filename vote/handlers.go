package main

import (
	"net/http"

	"github.com/go-voting-app/voting-app/platform/ballot"
	"github.com/go-voting-app/voting-app/platform/web"
)

// handleBallot shows the ballot, and the visitor's current choice when they have one.
func handleBallot(s *site, opts ballot.Options, cookies cookiePolicy) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		// The ID is issued on the first visit, so the first vote already carries a known voter.
		_, issued := cookies.voter(w, r)
		var chosen ballot.Option
		if !issued {
			// A new voter has not voted, whatever a stale choice cookie says.
			chosen, _ = choiceOf(r, opts)
		}
		v := ballotView{Question: question(opts), Options: make([]optionView, len(opts)), Choice: chosen.Label}
		for i, o := range opts {
			v.Options[i] = optionView{Option: o, Chosen: o.Key == chosen.Key}
		}
		s.page(w, http.StatusOK, ballotPage(s.frame, v))
	}
}

// castVote reads a choice with parse, casts it for the request's voter and remembers it in the
// choice cookie. A failure has been answered (and counted) when it returns false.
func castVote(w http.ResponseWriter, r *http.Request, s *site, m *metrics, box *ballotBox, cookies cookiePolicy,
	parse func(http.ResponseWriter, *http.Request) (ballot.Option, error)) (ballot.VoterID, ballot.Option, bool) {
	voter, _ := cookies.voter(w, r)
	opt, err := parse(w, r)
	if err == nil {
		err = box.Cast(r.Context(), voter, opt.Key)
	}
	if err != nil {
		m.failed(err)
		s.fail(w, r, err)
		return "", ballot.Option{}, false
	}
	cookies.setChoice(w, r, opt.Key)
	return voter, opt, true
}

// handleVote takes a vote from the ballot's form and sends the browser back to the ballot
// (post/redirect/get), so a reload does not post the form again.
func handleVote(s *site, m *metrics, opts ballot.Options, box *ballotBox, cookies cookiePolicy) http.HandlerFunc {
	parse := func(w http.ResponseWriter, r *http.Request) (ballot.Option, error) { return formChoice(w, r, opts) }
	return func(w http.ResponseWriter, r *http.Request) {
		if _, _, ok := castVote(w, r, s, m, box, cookies, parse); ok {
			http.Redirect(w, r, "/", http.StatusSeeOther)
		}
	}
}

// handleAPIVote is handleVote for programs: {"vote":"a"} in, 202 and JSON out. The queue accepted
// the vote; the worker counts it a moment later, hence Accepted rather than Created.
func handleAPIVote(s *site, m *metrics, opts ballot.Options, box *ballotBox, cookies cookiePolicy) http.HandlerFunc {
	type response struct {
		Vote string `json:"vote"`
		// Voter is the start of the voter ID, enough to match log lines; the whole ID stays in
		// the HttpOnly cookie.
		Voter string `json:"voter"`
	}
	parse := func(w http.ResponseWriter, r *http.Request) (ballot.Option, error) { return jsonChoice(w, r, opts) }
	return func(w http.ResponseWriter, r *http.Request) {
		voter, opt, ok := castVote(w, r, s, m, box, cookies, parse)
		if !ok {
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		web.Encode(w, http.StatusAccepted, response{Vote: opt.Key, Voter: string(voter)[:8]})
	}
}

// handleOptions lists the ballot for programs.
func handleOptions(opts ballot.Options) http.HandlerFunc {
	type response struct {
		Options ballot.Options `json:"options"`
	}
	return func(w http.ResponseWriter, r *http.Request) {
		web.Encode(w, http.StatusOK, response{Options: opts})
	}
}

var errNotFound = &requestError{kind: kindNotFound, msg: "There is nothing at this address."}

func handleNotFound(s *site) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { s.fail(w, r, errNotFound) }
}

// handleCrossOrigin answers a POST that http.CrossOriginProtection refused.
func handleCrossOrigin(s *site, m *metrics) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		err := &requestError{kind: kindCrossOrigin,
			msg: "Votes are only taken from this site's own page. Open the ballot and vote there."}
		m.failed(err)
		s.fail(w, r, err)
	}
}
