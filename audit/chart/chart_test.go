package chart

import (
	"bytes"
	"encoding/xml"
	"io"
	"strings"
	"testing"
)

func TestWriteSVG(t *testing.T) {
	c := Chart{
		Title:  "sizes <&>",
		Unit:   "MiB",
		Series: []Series{{Name: "base", Color: "#999999"}, {Name: "binary", Color: "#2980b9"}},
		Bars: []Bar{
			{Label: "vote", Values: []float64{1.8, 10.7}, Note: "over"},
			{Label: "seed", Values: []float64{1.8, 8.4}},
		},
		Target: 12, TargetLabel: "target 12 MiB",
	}
	var b bytes.Buffer
	if err := c.WriteSVG(&b); err != nil {
		t.Fatal(err)
	}
	// Well-formed XML, with one rect per segment (plus background and legend).
	d := xml.NewDecoder(bytes.NewReader(b.Bytes()))
	rects, lines := 0, 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed: %v\n%s", err, b.String())
		}
		if se, ok := tok.(xml.StartElement); ok {
			switch se.Name.Local {
			case "rect":
				rects++
			case "line":
				lines++
			}
		}
	}
	if want := 1 + 4 + 2; rects != want {
		t.Errorf("%d rects, want %d", rects, want)
	}
	for _, s := range []string{"12.5 MiB — over", "target 12 MiB", "sizes &lt;&amp;&gt;", `stroke-dasharray`} {
		if !strings.Contains(b.String(), s) {
			t.Errorf("SVG lacks %q", s)
		}
	}
}

func TestNiceStep(t *testing.T) {
	for raw, want := range map[float64]float64{0.3: 0.5, 1: 1, 1.2: 2, 3: 5, 7: 10, 130: 200, 0: 1} {
		if got := niceStep(raw); got != want {
			t.Errorf("niceStep(%v) = %v, want %v", raw, got, want)
		}
	}
}
