package main

import (
	"strconv"
	"time"

	"github.com/go-voting-app/voting-app/platform/ballot"
)

// Geometry of the live chart, in the SVG's own units: one column per interval of the window, one
// bar per option in it. results.js draws the same picture from the same numbers, so the page looks
// the same before and after its script runs, and without it.
const (
	chartHeight = 100
	columnWidth = 10
)

// chartView is the live chart as the page first shows it.
type chartView struct {
	Width, Height int
	Columns       []columnView
	Peak          int64  // the most votes one option got in one interval of the window
	Caption       string // what the chart shows, in words, for everyone and for screen readers
	ServerTime    int64  // Unix ms when the page was made: the script's clock is set against it
	IntervalSecs  int
	WindowSecs    int
}

// columnView is one interval.
type columnView struct {
	Start string           // RFC 3339
	Votes map[string]int64 // by option key
	Bars  []barView
}

type barView struct {
	Class      string // col-1, col-2: the option's colour in style.css
	X, Y, W, H string
}

// newChartView lays the recent intervals over the window that ends at now: every interval gets a
// column, the empty ones too, so the time axis is even.
func newChartView(opts ballot.Options, r recentVotes, now time.Time) chartView {
	interval := time.Duration(r.IntervalSeconds) * time.Second
	n := r.WindowSeconds / r.IntervalSeconds
	end := now.Truncate(interval) // the interval under way is the last column
	start := end.Add(-time.Duration(n-1) * interval)
	v := chartView{Width: n * columnWidth, Height: chartHeight, ServerTime: now.UnixMilli(),
		IntervalSecs: r.IntervalSeconds, WindowSecs: r.WindowSeconds}
	byStart := make(map[int64]map[string]int64, len(r.Buckets))
	for _, b := range r.Buckets {
		byStart[b.Start.UnixMilli()] = b.Votes
	}
	totals := make(map[string]int64, len(opts))
	for i := range n {
		at := start.Add(time.Duration(i) * interval)
		votes := byStart[at.UnixMilli()]
		col := columnView{Start: at.UTC().Format(time.RFC3339), Votes: map[string]int64{}}
		for _, o := range opts {
			col.Votes[o.Key] = votes[o.Key]
			totals[o.Key] += votes[o.Key]
			v.Peak = max(v.Peak, votes[o.Key])
		}
		v.Columns = append(v.Columns, col)
	}
	barWidth := float64(columnWidth-2) / float64(len(opts))
	for i := range v.Columns {
		for j, o := range opts {
			h := 0.0
			if v.Peak > 0 {
				h = float64(chartHeight) * float64(v.Columns[i].Votes[o.Key]) / float64(v.Peak)
			}
			v.Columns[i].Bars = append(v.Columns[i].Bars, barView{
				Class: "col-" + strconv.Itoa(j%3+1),
				X:     num(float64(i*columnWidth) + 1 + float64(j)*barWidth),
				Y:     num(float64(chartHeight) - h),
				W:     num(barWidth),
				H:     num(h),
			})
		}
	}
	v.Caption = "Votes cast every " + strconv.Itoa(r.IntervalSeconds) + " seconds (a change of mind counts) over the last " +
		strconv.Itoa(r.WindowSeconds/60) + " minutes: "
	for i, o := range opts {
		if i > 0 {
			v.Caption += ", "
		}
		v.Caption += o.Label + " " + ballot.Votes(totals[o.Key])
	}
	v.Caption += "."
	return v
}

// num writes an SVG coordinate with at most two decimals.
func num(f float64) string { return strconv.FormatFloat(float64(int64(f*100+0.5))/100, 'f', -1, 64) }
