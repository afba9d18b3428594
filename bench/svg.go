package main

import (
	"fmt"
	"html"
	"strings"
)

// barChart is a horizontal bar chart: one bar per row, an optional target line. It renders to a
// self-contained SVG with no script or external reference, so it shows on any Markdown viewer.
type barChart struct {
	Title  string
	Unit   string // axis label
	Rows   []bar
	Target float64 // 0: none
	// TargetLabel names the target line ("target ≥ 20,000").
	TargetLabel string
}

type bar struct {
	Label string
	Value float64
	Text  string // the value as shown at the end of the bar
	Muted bool   // drawn grey: a reference (a ceiling), not the thing measured
}

// svg renders the chart. Widths are fixed so the files only change when the figures do.
func (c barChart) svg() string {
	const (
		width  = 760
		left   = 230 // room for labels
		right  = 150 // room for the value text
		rowH   = 26
		top    = 64
		bottom = 40
	)
	plot := float64(width - left - right)
	maxV := c.Target
	for _, r := range c.Rows {
		maxV = max(maxV, r.Value)
	}
	if maxV <= 0 {
		maxV = 1
	}
	maxV = niceCeil(maxV * 1.05)
	height := top + len(c.Rows)*rowH + bottom
	x := func(v float64) float64 { return float64(left) + v/maxV*plot }

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="13">`+"\n",
		width, height, width, height)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#ffffff"/>`+"\n", width, height)
	fmt.Fprintf(&b, `<text x="%d" y="24" font-size="15" font-weight="bold">%s</text>`+"\n", 12, esc(c.Title))
	// Grid: five ticks.
	for i := 0; i <= 5; i++ {
		v := maxV * float64(i) / 5
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#e5e5e5"/>`+"\n", x(v), top-6, x(v), top+len(c.Rows)*rowH)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" fill="#555">%s</text>`+"\n", x(v), top+len(c.Rows)*rowH+16, esc(compact(v)))
	}
	fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" fill="#555">%s</text>`+"\n", float64(left)+plot/2, height-6, esc(c.Unit))
	// The target goes under the bars and their values, which stay readable across it.
	if c.Target > 0 {
		tx := x(c.Target)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#c0392b" stroke-width="2" stroke-dasharray="6 4"/>`+"\n",
			tx, top-10, tx, top+len(c.Rows)*rowH)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" fill="#c0392b">%s</text>`+"\n", tx, top-14, esc(c.TargetLabel))
	}
	for i, r := range c.Rows {
		y := top + i*rowH
		fill := "#3b6ea8"
		if r.Muted {
			fill = "#a9b4c2"
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%s</text>`+"\n", left-8, y+17, esc(r.Label))
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"/>`+"\n", left, y+4, max(x(r.Value)-float64(left), 1), rowH-8, fill)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d">%s</text>`+"\n", x(r.Value)+6, y+17, esc(r.Text))
	}
	b.WriteString("</svg>\n")
	return b.String()
}

// niceCeil rounds up to 1, 2, 2.5 or 5 times a power of ten, for round axis ticks.
func niceCeil(v float64) float64 {
	p := 1.0
	for p*10 <= v {
		p *= 10
	}
	for p > v {
		p /= 10
	}
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

// compact writes an axis value: 20k, 2.5k, 250, 0.5.
func compact(v float64) string {
	switch {
	case v >= 1e6:
		return trimZero(fmt.Sprintf("%.1f", v/1e6)) + "M"
	case v >= 1e3:
		return trimZero(fmt.Sprintf("%.1f", v/1e3)) + "k"
	case v >= 10:
		return fmt.Sprintf("%.0f", v)
	}
	return trimZero(fmt.Sprintf("%.1f", v))
}

func trimZero(s string) string { return strings.TrimSuffix(s, ".0") }

func esc(s string) string { return html.EscapeString(s) }
