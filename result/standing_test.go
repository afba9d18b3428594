package main

import (
	"testing"
	"time"

	"github.com/go-voting-app/voting-app/platform/ballot"
	"github.com/go-voting-app/voting-app/platform/postgres"
)

func TestLead(t *testing.T) {
	opts := testOptions(t) // Tea, Coffee
	tests := []struct {
		votes       map[string]int64
		text        string
		leader      string
		significant bool
	}{
		{map[string]int64{}, "No votes yet.", "", false},
		{map[string]int64{"a": 12, "b": 12}, "Tea and Coffee are tied at 12 votes each.", "", false},
		{map[string]int64{"a": 1, "b": 1}, "Tea and Coffee are tied at 1 vote each.", "", false},
		{map[string]int64{"a": 52, "b": 48}, "Too close to call. Lead: Tea, by 4.0 points over Coffee " +
			"(95% interval -15.4 to 23.1); the chance it holds is 65.5%.", "a", false},
		{map[string]int64{"a": 96, "b": 144}, "Lead: Coffee, by 20.0 points over Tea (95% interval 7.4 to 32.0). " +
			"A clear lead: the chance it holds is above 99.9%.", "b", true},
		{map[string]int64{"b": 3}, "Too close to call. Lead: Coffee, by 100.0 points over Tea " +
			"(95% interval -12.3 to 100.0); the chance it holds is 93.8%.", "b", false},
	}
	for _, tt := range tests {
		l := newLead(ballot.NewTally(opts, tt.votes))
		if l.Text != tt.text || l.Leader != tt.leader || l.Significant != tt.significant {
			t.Errorf("%v: %+v\n want text %q, leader %q, significant %v", tt.votes, l, tt.text, tt.leader, tt.significant)
		}
		if l.Low > l.Margin || l.Margin > l.High {
			t.Errorf("%v: margin %v outside its interval [%v, %v]", tt.votes, l.Margin, l.Low, l.High)
		}
	}
}

// The chart has a column for every interval of the window ending now, empty ones included, the
// tallest bar at full height and the others in proportion.
func TestChartView(t *testing.T) {
	opts := testOptions(t)
	now := time.Date(2026, 12, 3, 12, 5, 7, 0, time.UTC)
	at := func(sec int) time.Time {
		return time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC).Add(time.Duration(sec) * time.Second)
	}
	recent := newRecentVotes(opts, []postgres.BucketVotes{
		{Start: at(-10), Option: "a", Votes: 99}, // before the window
		{Start: at(10), Option: "a", Votes: 4}, {Start: at(10), Option: "b", Votes: 2},
		{Start: at(300), Option: "b", Votes: 8}, // the interval under way
	})
	c := newChartView(opts, recent, now)
	if len(c.Columns) != 30 || c.Columns[0].Start != "2026-12-03T12:00:10Z" || c.Columns[29].Start != "2026-12-03T12:05:00Z" {
		t.Fatalf("%d columns from %s to %s", len(c.Columns), c.Columns[0].Start, c.Columns[len(c.Columns)-1].Start)
	}
	if c.Peak != 8 {
		t.Errorf("peak %d, want 8", c.Peak)
	}
	first, last := c.Columns[0], c.Columns[29]
	if first.Votes["a"] != 4 || first.Votes["b"] != 2 || last.Votes["b"] != 8 || first.Bars[0].H != "50" || last.Bars[1].H != "100" || last.Bars[0].H != "0" {
		t.Errorf("first column %+v, last %+v", first, last)
	}
	if want := "Votes cast every 10 seconds (a change of mind counts) over the last 5 minutes: Tea 4 votes, Coffee 10 votes."; c.Caption != want {
		t.Errorf("caption %q, want %q", c.Caption, want)
	}
}
