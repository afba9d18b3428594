package main

import (
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
