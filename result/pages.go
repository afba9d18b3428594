package main

import (
	"strconv"

	g "maragu.dev/gomponents"
	h "maragu.dev/gomponents/html"
)

// The page is a Go function (gomponents), not html/template: text/template looks methods up by
// names known only at run time (reflect.Value.MethodByName), so the linker has to keep every
// exported method of every reachable type, which made the binary 16% larger. Escaping is kept:
// g.Text and attribute values escape what they are given, and nothing here uses g.Raw, so labels
// from the environment cannot become markup.

// resultsPage is the whole page. The script finds what it updates by id and data-field, and the
// Content-Security-Policy allows no inline script or style, so widths are classes (see style.css).
func resultsPage(v pageView) g.Node {
	return h.Doctype(h.HTML(h.Lang("en"),
		h.Head(
			h.Meta(h.Charset("utf-8")),
			h.Meta(h.Name("viewport"), h.Content("width=device-width, initial-scale=1")),
			h.TitleEl(g.Text(v.Title+": results")),
			h.Link(h.Rel("stylesheet"), h.Href(v.StyleURL)),
			h.Script(h.Src(v.ScriptURL), h.Defer()),
		),
		h.Body(
			h.Main(h.ID("results"), h.Data("events", v.EventsURL),
				h.H1(g.Text(v.Title)),
				g.If(!v.Ready, h.P(h.Class("notice"), h.Data("field", "notice"),
					g.Text("Results are not available yet. This page fills in as soon as they are."),
				)),
				h.Ul(h.Class("tally"), g.Map(v.Options, optionItem)),
				h.P(h.Class("summary"), h.Data("field", "summary"), g.Text(v.Summary)),
				h.P(h.Class("lead"), h.Data("field", "lead"), g.Text(v.Lead)),
				chart(v.Options, v.Chart),
				h.P(h.Class("status"), h.ID("status"), h.Role("status")),
				h.P(h.Class("visually-hidden"), h.ID("announce"), h.Aria("live", "polite")),
				h.NoScript(h.P(h.Class("hint"),
					g.Text("Live updates need JavaScript; reload the page for the latest numbers."),
				)),
			),
		),
	))
}

func optionItem(o optionView) g.Node {
	return h.Li(h.Class("option"), h.Data("key", o.Key),
		h.Div(h.Class("line"),
			h.Span(h.Class("label"), g.Text(o.Label)),
			g.Text(" "), // the line is a flex box; without the style sheet, the space keeps words apart
			h.Span(h.Class("numbers"),
				h.Strong(h.Class("percent"), h.Data("field", "percent"), g.Text(o.Percent)),
				g.Text(" "),
				h.Span(h.Class("votes"), h.Data("field", "votes"), g.Text(o.Votes)),
			),
		),
		// The bar repeats the numbers beside it, so assistive technology skips it.
		h.Div(h.Class("track"), h.Aria("hidden", "true"),
			h.Div(h.Class("bar "+o.BarClass), h.Data("field", "bar")),
		),
	)
}

// chart is the live chart: an inline SVG of the votes per option in each interval of the last
// minutes, drawn by the server so that it shows without JavaScript, redrawn by results.js on every
// event and as time passes. Colours and sizes come from style.css through classes (the CSP allows
// no inline style); each column carries its numbers in data attributes.
func chart(opts []optionView, c chartView) g.Node {
	return h.Figure(h.Class("chart"), h.ID("chart"),
		h.Data("server-time", strconv.FormatInt(c.ServerTime, 10)),
		h.Data("interval", strconv.Itoa(c.IntervalSecs)), h.Data("window", strconv.Itoa(c.WindowSecs)),
		g.El("svg", g.Attr("viewBox", "0 0 "+strconv.Itoa(c.Width)+" "+strconv.Itoa(c.Height)),
			g.Attr("preserveAspectRatio", "none"), h.Role("img"), h.Aria("label", c.Caption),
			g.Attr("data-field", "plot"),
			g.Map(c.Columns, func(col columnView) g.Node {
				attrs := []g.Node{g.Attr("data-start", col.Start)}
				for _, o := range opts {
					attrs = append(attrs, g.Attr("data-"+o.Key, strconv.FormatInt(col.Votes[o.Key], 10)))
				}
				return g.El("g", append(attrs, g.Map(col.Bars, func(b barView) g.Node {
					return g.El("rect", h.Class(b.Class), g.Attr("x", b.X), g.Attr("y", b.Y),
						g.Attr("width", b.W), g.Attr("height", b.H))
				}))...)
			}),
		),
		h.Div(h.Class("axis"), h.Aria("hidden", "true"),
			h.Span(g.Text(strconv.Itoa(c.WindowSecs/60)+" min ago")),
			h.Span(h.Data("field", "peak"), g.Text(peakText(c.Peak, c.IntervalSecs))),
			h.Span(g.Text("now")),
		),
		h.FigCaption(
			h.Ul(h.Class("legend"), h.Aria("hidden", "true"), g.Map(indexed(opts), func(o indexedOption) g.Node {
				return h.Li(h.Span(h.Class("swatch col-"+strconv.Itoa(o.i%3+1))), g.Text(" "+o.Label))
			})),
			h.P(h.Data("field", "caption"), g.Text(c.Caption)),
		),
	)
}

// peakText labels the chart's scale: the tallest bar.
func peakText(peak int64, intervalSecs int) string {
	if peak == 0 {
		return "no votes in this time"
	}
	return "top: " + strconv.FormatInt(peak, 10) + " per " + strconv.Itoa(intervalSecs) + " s"
}

type indexedOption struct {
	optionView
	i int
}

func indexed(opts []optionView) []indexedOption {
	out := make([]indexedOption, len(opts))
	for i, o := range opts {
		out[i] = indexedOption{o, i}
	}
	return out
}
