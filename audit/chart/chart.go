// Package chart draws horizontal, stacked bar charts as SVG with the standard library only: one
// bar per item, one coloured segment per part of it, an optional target line.
package chart

import (
	"fmt"
	"html"
	"io"
	"math"
	"strings"
)

// Chart is a horizontal bar chart.
type Chart struct {
	Title    string
	Subtitle string
	// Unit follows every value, e.g. "MiB".
	Unit string
	// Series names the segments of each bar, in order; Bars give one value per series.
	Series []Series
	Bars   []Bar
	// Target draws a vertical line at this value when it is above zero.
	Target      float64
	TargetLabel string
}

// Series is one kind of segment, with its colour.
type Series struct {
	Name, Color string
}

// Bar is one item: its label, a value per series, and a note printed after the total.
type Bar struct {
	Label  string
	Values []float64
	Note   string
}

const (
	width    = 900
	labelW   = 190
	plotW    = 520
	rowH     = 30
	barH     = 18
	topPad   = 70
	fontSize = 13
)

// WriteSVG writes the chart as a standalone SVG document.
func (c Chart) WriteSVG(w io.Writer) error {
	var b strings.Builder
	top := float64(c.Target)
	for _, bar := range c.Bars {
		top = math.Max(top, sum(bar.Values))
	}
	step := niceStep(top / 5)
	scaleMax := math.Ceil(top*1.02/step) * step
	if scaleMax <= 0 {
		scaleMax = 1
	}
	x := func(v float64) float64 { return labelW + v/scaleMax*plotW }
	height := topPad + len(c.Bars)*rowH + 60

	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="%d">`+"\n",
		width, height, width, height, fontSize)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="#ffffff"/>`+"\n")
	fmt.Fprintf(&b, `<text x="10" y="22" font-size="16" font-weight="bold">%s</text>`+"\n", esc(c.Title))
	if c.Subtitle != "" {
		fmt.Fprintf(&b, `<text x="10" y="42" fill="#555555">%s</text>`+"\n", esc(c.Subtitle))
	}

	// Grid and axis labels.
	axisY := topPad + len(c.Bars)*rowH
	for v := 0.0; v <= scaleMax+step/2; v += step {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#e5e5e5"/>`+"\n", x(v), topPad-8, x(v), axisY)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" fill="#555555">%s</text>`+"\n", x(v), axisY+16, trim(v))
	}
	fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" fill="#555555">%s</text>`+"\n", x(scaleMax/2), axisY+34, esc(c.Unit))

	for i, bar := range c.Bars {
		y := topPad + i*rowH
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%s</text>`+"\n", labelW-8, y+barH-4, esc(bar.Label))
		at := 0.0
		for j, v := range bar.Values {
			if v <= 0 {
				continue
			}
			color, name := "#888888", ""
			if j < len(c.Series) {
				color, name = c.Series[j].Color, c.Series[j].Name
			}
			fmt.Fprintf(&b, `<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s"><title>%s: %s %s</title></rect>`+"\n",
				x(at), y, x(at+v)-x(at), barH, color, esc(name), trim(v), esc(c.Unit))
			at += v
		}
		label := trim(at) + " " + c.Unit
		if bar.Note != "" {
			label += " — " + bar.Note
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%d">%s</text>`+"\n", x(at)+6, y+barH-4, esc(label))
	}

	if c.Target > 0 {
		tx := x(c.Target)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#c0392b" stroke-width="2" stroke-dasharray="6 4"/>`+"\n", tx, topPad-14, tx, axisY)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" fill="#c0392b" text-anchor="middle">%s</text>`+"\n", tx, topPad-18, esc(c.TargetLabel))
	}

	// Legend, bottom left.
	lx := 10
	for _, s := range c.Series {
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="12" height="12" fill="%s"/>`, lx, height-18, s.Color)
		fmt.Fprintf(&b, `<text x="%d" y="%d">%s</text>`+"\n", lx+16, height-8, esc(s.Name))
		lx += 28 + 8*len(s.Name)
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func sum(vs []float64) float64 {
	var s float64
	for _, v := range vs {
		s += max(v, 0)
	}
	return s
}

// niceStep rounds a raw step up to 1, 2 or 5 times a power of ten.
func niceStep(raw float64) float64 {
	if raw <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if raw <= m*p {
			return m * p
		}
	}
	return 10 * p
}

func trim(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.1f", v)
}

func esc(s string) string { return html.EscapeString(s) }
