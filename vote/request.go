package main

import (
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"

	"github.com/go-voting-app/voting-app/platform/ballot"
	"github.com/go-voting-app/voting-app/platform/web"
)

// maxBody caps a vote request's body. A vote is a dozen bytes; anything near this is not a vote.
const maxBody = 4 << 10

// Cookie names. voterCookie is the classic app's name, so a voter keeps their identity across the
// switch; choiceCookie only remembers what to show on the page, the queue keeps the real vote.
const (
	voterCookie  = "voter_id"
	choiceCookie = "voted"
	cookieMaxAge = 365 * 24 * 60 * 60 // seconds
)

// cookiePolicy sets this service's cookies.
type cookiePolicy struct {
	alwaysSecure bool // COOKIE_SECURE: set Secure even on plain HTTP (TLS ends at a proxy)
}

// voter returns the request's voter ID. A missing cookie, or one that is not an ID this service
// issues (forged, truncated, oversized), is replaced by a fresh ID and never used; issued says so.
func (c cookiePolicy) voter(w http.ResponseWriter, r *http.Request) (id ballot.VoterID, issued bool) {
	if id, ok := voterOf(r); ok {
		return id, false
	}
	id = ballot.NewVoterID()
	c.set(w, r, voterCookie, string(id))
	return id, true
}

// setChoice remembers the option the voter chose, for the page to show.
func (c cookiePolicy) setChoice(w http.ResponseWriter, r *http.Request, key string) {
	c.set(w, r, choiceCookie, key)
}

func (c cookiePolicy) set(w http.ResponseWriter, r *http.Request, name, value string) {
	http.SetCookie(w, &http.Cookie{
		Name:     name,
		Value:    value,
		Path:     "/",
		MaxAge:   cookieMaxAge,
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
		Secure:   c.alwaysSecure || r.TLS != nil,
	})
}

// voterOf finds a valid voter ID among the request's voter_id cookies. A browser sends several
// when another path or a parent domain set one too; the first one this service could have issued
// wins, so a stray cookie cannot make every visit look like a new voter.
func voterOf(r *http.Request) (ballot.VoterID, bool) {
	for _, c := range r.CookiesNamed(voterCookie) {
		if id, err := ballot.ParseVoterID(c.Value); err == nil {
			return id, true
		}
	}
	return "", false
}

// choiceOf returns the option the choice cookie names, if it names one on the ballot.
func choiceOf(r *http.Request, opts ballot.Options) (ballot.Option, bool) {
	c, err := r.Cookie(choiceCookie)
	if err != nil {
		return ballot.Option{}, false
	}
	return opts.Find(c.Value)
}

// formChoice reads the option an HTML form chose: exactly one field vote=<key> in a urlencoded
// body of at most maxBody bytes.
func formChoice(w http.ResponseWriter, r *http.Request, opts ballot.Options) (ballot.Option, error) {
	if err := requireMediaType(r, "application/x-www-form-urlencoded"); err != nil {
		return ballot.Option{}, err
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if err := r.ParseForm(); err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return ballot.Option{}, errTooLarge
		}
		return ballot.Option{}, &requestError{kind: kindMalformed, msg: "The form could not be read. Please vote again from the ballot."}
	}
	votes := r.PostForm["vote"]
	if len(votes) > 1 {
		return ballot.Option{}, &requestError{kind: kindMalformed, msg: "The form chose more than one option. Choose exactly one."}
	}
	return choose(opts, r.PostForm.Get("vote"))
}

// jsonChoice reads the option of an API vote: {"vote":"<key>"}, nothing else.
func jsonChoice(w http.ResponseWriter, r *http.Request, opts ballot.Options) (ballot.Option, error) {
	type request struct {
		Vote string `json:"vote"`
	}
	if err := requireMediaType(r, "application/json"); err != nil {
		return ballot.Option{}, err
	}
	req, err := web.Decode[request](w, r, maxBody)
	if errors.Is(err, web.ErrBodyTooLarge) {
		return ballot.Option{}, errTooLarge
	}
	if err != nil {
		return ballot.Option{}, &requestError{kind: kindMalformed, msg: `The body must be one JSON object such as {"vote":"a"}.`}
	}
	return choose(opts, req.Vote)
}

var errTooLarge = &requestError{kind: kindTooLarge, msg: fmt.Sprintf("The request is larger than a vote can be (%d bytes at most).", maxBody)}

// choose finds the option with the given key; the error names the options there are.
func choose(opts ballot.Options, key string) (ballot.Option, error) {
	if o, ok := opts.Find(key); ok {
		return o, nil
	}
	what := "That is not an option on this ballot."
	if key == "" {
		what = "No option was chosen."
	}
	choices := make([]string, len(opts))
	for i, o := range opts {
		choices[i] = fmt.Sprintf("%s (%s)", o.Label, o.Key)
	}
	return ballot.Option{}, &requestError{kind: kindBadOption,
		msg: what + " Choose one of: " + strings.Join(choices, ", ") + "."}
}

// requireMediaType checks the request's Content-Type, ignoring parameters such as charset.
func requireMediaType(r *http.Request, want string) error {
	got, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || got != want {
		return &requestError{kind: kindMediaType, msg: "Send the vote as " + want + "."}
	}
	return nil
}
