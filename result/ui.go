package main

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-voting-app/voting-app/platform/ballot"
)

// assetFS holds the files served under /static/; the page itself is pages.go.
//
//go:embed assets
var assetFS embed.FS

// ui is the static files the page links to, loaded once at start.
type ui struct {
	static map[string]staticFile // by file name
}

type staticFile struct {
	body    []byte
	ctype   string
	version string // content hash, in the file's URL and as its ETag
}

// Files served under /static/.
const (
	styleFile  = "style.css"
	scriptFile = "results.js"
)

func loadUI() (*ui, error) {
	u := &ui{static: make(map[string]staticFile)}
	for name, ctype := range map[string]string{
		styleFile:  "text/css; charset=utf-8",
		scriptFile: "text/javascript; charset=utf-8",
	} {
		body, err := assetFS.ReadFile("assets/" + name)
		if err != nil {
			return nil, fmt.Errorf("static file: %w", err)
		}
		sum := sha256.Sum256(body)
		u.static[name] = staticFile{
			body:    body,
			ctype:   ctype,
			version: hex.EncodeToString(sum[:6]),
		}
	}
	return u, nil
}

// staticURL names a file with its content hash, so browsers may cache it for good and still fetch
// a changed file after a deploy.
func (u *ui) staticURL(name string) string {
	return "/static/" + name + "?v=" + u.static[name].version
}

// pageView is what the page shows.
type pageView struct {
	Title     string // "Cats vs Dogs"
	Ready     bool   // a tally is known; otherwise the numbers are placeholders
	Options   []optionView
	Summary   string
	EventsURL string
	StyleURL  string
	ScriptURL string
}

type optionView struct {
	Key      string
	Label    string
	Percent  string // "37%"
	Votes    string // "1,234 votes"
	BarClass string // "w-37": a width class from style.css
}

// newPageView lays the latest tally (nil before the first one) over the ballot. Options come from
// the ballot, not from the tally, so the labels show even before the database answers.
func newPageView(opts ballot.Options, s *snapshot) pageView {
	labels := make([]string, len(opts))
	v := pageView{Ready: s != nil, Options: make([]optionView, len(opts))}
	for i, o := range opts {
		labels[i] = o.Label
		v.Options[i] = optionView{Key: o.Key, Label: o.Label, Percent: "–", Votes: "", BarClass: "w-0"}
	}
	v.Title = strings.Join(labels, " vs ")
	if s == nil {
		v.Summary = "Waiting for the first results…"
		return v
	}
	for i, o := range opts {
		for _, c := range s.Tally.Options {
			if c.Key != o.Key {
				continue
			}
			p := min(max(c.Percent, 0), 100)
			v.Options[i].Percent = strconv.Itoa(p) + "%"
			v.Options[i].Votes = ballot.Votes(c.Votes)
			v.Options[i].BarClass = "w-" + strconv.Itoa(p)
		}
	}
	v.Summary = s.Tally.Summary()
	return v
}

// render writes the page into a buffer first, so a rendering error becomes a clean 500 instead of
// half a page.
func (u *ui) render(v pageView) ([]byte, error) {
	var buf bytes.Buffer
	if err := resultsPage(v).Render(&buf); err != nil {
		return nil, fmt.Errorf("render page: %w", err)
	}
	return buf.Bytes(), nil
}

// serveStatic answers /static/{name}. A request that names the current version may be cached for
// a year; any other must revalidate (the ETag makes that a 304).
func (u *ui) serveStatic(w http.ResponseWriter, r *http.Request, name string) bool {
	f, ok := u.static[name]
	if !ok {
		return false
	}
	h := w.Header()
	h.Set("Content-Type", f.ctype)
	h.Set("ETag", `"`+f.version+`"`)
	if r.URL.Query().Get("v") == f.version {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(f.body))
	return true
}
