package main

import (
	"bytes"
	"embed"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"time"

	"github.com/go-voting-app/voting-app/platform/ballot"
	"github.com/go-voting-app/voting-app/platform/web"
)

// assetFS holds the files served under /static/; the page itself is pages.go.
//
//go:embed assets
var assetFS embed.FS

// ui is the static files the page links to, loaded once at start.
type ui struct {
	assets *web.Assets
}

// Files served under /static/.
const (
	styleFile  = "style.css"
	scriptFile = "results.js"
)

func loadUI() (*ui, error) {
	static, err := fs.Sub(assetFS, "assets")
	if err != nil {
		return nil, err
	}
	a, err := web.NewAssets(static, "/static/")
	if err != nil {
		return nil, err
	}
	return &ui{assets: a}, nil
}

// pageView is what the page shows.
type pageView struct {
	Title     string // "Cats vs Dogs"
	Ready     bool   // a tally is known; otherwise the numbers are placeholders
	Options   []optionView
	Summary   string
	Lead      string // the lead in plain words
	Chart     chartView
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

// newPageView lays the latest standing (nil before the first one) over the ballot, as of now.
// Options come from the ballot, not from the tally, so the labels show even before the database
// answers.
func newPageView(opts ballot.Options, s *snapshot, now time.Time) pageView {
	labels := make([]string, len(opts))
	v := pageView{Ready: s != nil, Options: make([]optionView, len(opts))}
	for i, o := range opts {
		labels[i] = o.Label
		v.Options[i] = optionView{Key: o.Key, Label: o.Label, Percent: "–", Votes: "", BarClass: "w-0"}
	}
	v.Title = strings.Join(labels, " vs ")
	if s == nil {
		v.Summary = "Waiting for the first results…"
		v.Chart = newChartView(opts, newRecentVotes(opts, nil), now)
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
	v.Lead = s.Lead.Text
	v.Chart = newChartView(opts, s.Recent, now)
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
