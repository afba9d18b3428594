package main

import (
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/go-voting-app/voting-app/platform/ballot"
)

func TestPageView(t *testing.T) {
	opts := testOptions(t)
	type opt struct{ percent, votes, bar string }
	tests := []struct {
		name    string
		votes   map[string]int64 // nil: no tally yet
		ready   bool
		summary string
		want    []opt
	}{
		{"before the first tally", nil, false, "Waiting for the first results…",
			[]opt{{"–", "", "w-0"}, {"–", "", "w-0"}}},
		{"no votes", map[string]int64{}, true, "No votes yet",
			[]opt{{"0%", "0 votes", "w-0"}, {"0%", "0 votes", "w-0"}}},
		{"one vote", map[string]int64{"b": 1}, true, "1 vote",
			[]opt{{"0%", "0 votes", "w-0"}, {"100%", "1 vote", "w-100"}}},
		{"thirds add up to 100", map[string]int64{"a": 1, "b": 2}, true, "3 votes",
			[]opt{{"33%", "1 vote", "w-33"}, {"67%", "2 votes", "w-67"}}},
		{"large counts are grouped", map[string]int64{"a": 1234567, "b": 1000}, true, "1,235,567 votes",
			[]opt{{"100%", "1,234,567 votes", "w-100"}, {"0%", "1,000 votes", "w-0"}}},
		{"keys off the ballot are ignored", map[string]int64{"a": 3, "zz": 9}, true, "3 votes",
			[]opt{{"100%", "3 votes", "w-100"}, {"0%", "0 votes", "w-0"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s *snapshot
			if tt.votes != nil {
				s = newSnapshot(ballot.NewTally(opts, tt.votes), nil)
			}
			v := newPageView(opts, s, time.Now())
			if v.Title != "Tea vs Coffee" {
				t.Errorf("title %q", v.Title)
			}
			if v.Ready != tt.ready || v.Summary != tt.summary {
				t.Errorf("ready %v summary %q, want %v %q", v.Ready, v.Summary, tt.ready, tt.summary)
			}
			for i, w := range tt.want {
				o := v.Options[i]
				if o.Label != opts[i].Label || o.Key != opts[i].Key {
					t.Errorf("option %d is %s/%s, want the ballot's %s/%s", i, o.Key, o.Label, opts[i].Key, opts[i].Label)
				}
				if got := (opt{o.Percent, o.Votes, o.BarClass}); got != w {
					t.Errorf("option %d: got %+v, want %+v", i, got, w)
				}
			}
		})
	}
}

// The page sets bar widths with the classes w-0 … w-100, so the style sheet must define every one.
func TestStyleSheetHasEveryWidthClass(t *testing.T) {
	body, err := assetFS.ReadFile("assets/" + styleFile)
	if err != nil {
		t.Fatal(err)
	}
	css := string(body)
	for p := range 101 {
		rule := `\.w-` + strconv.Itoa(p) + ` \{ width: ` + strconv.Itoa(p) + `%; \}`
		if !regexp.MustCompile(rule).MatchString(css) {
			t.Errorf("style.css lacks the rule for w-%d", p)
		}
	}
}
