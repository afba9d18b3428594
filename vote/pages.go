package main

import (
	"github.com/go-voting-app/voting-app/platform/ballot"
	g "maragu.dev/gomponents"
	h "maragu.dev/gomponents/html"
)

// The pages are Go functions (gomponents), not html/template: text/template looks methods up by
// names known only at run time (reflect.Value.MethodByName), so the linker has to keep every
// exported method of every reachable type, all of go-redis's commands among them, which made the
// binary 70% larger. Escaping is kept: g.Text and attribute values escape what they are given, and
// nothing here uses g.Raw, so labels from the environment cannot become markup.

// frame is what every page shows around its content. It is fixed at start.
type frame struct {
	StyleURL string
	IconURL  string
	Hostname string // of the replica that served the page
}

// ballotView is what the ballot shows.
type ballotView struct {
	Question string // "Cats or Dogs?"
	Options  []optionView
	Choice   string // label of the option the visitor voted for, if any
}

type optionView struct {
	ballot.Option
	Chosen bool
}

// errorView is what an error page shows.
type errorView struct {
	Title   string
	Message string
}

// document is the page around content. There is no script and no style attribute: the
// Content-Security-Policy forbids both.
func document(f frame, title string, content ...g.Node) g.Node {
	return h.Doctype(h.HTML(h.Lang("en"),
		h.Head(
			h.Meta(h.Charset("utf-8")),
			h.Meta(h.Name("viewport"), h.Content("width=device-width, initial-scale=1")),
			h.Meta(h.Name("color-scheme"), h.Content("light dark")),
			h.TitleEl(g.Text(title)),
			h.Link(h.Rel("stylesheet"), h.Href(f.StyleURL)),
			h.Link(h.Rel("icon"), h.Href(f.IconURL), h.Type("image/svg+xml")),
		),
		h.Body(
			h.Main(content...),
			h.Footer(g.Text("served by "+f.Hostname)),
		),
	))
}

// ballotPage has one form per option, so voting works without JavaScript.
func ballotPage(f frame, v ballotView) g.Node {
	tip := "Tap an option to vote."
	if v.Choice != "" {
		tip = "You can change your vote at any time."
	}
	return document(f, v.Question,
		h.H1(g.Text(v.Question)),
		g.If(v.Choice != "", h.P(h.Class("choice"), h.Role("status"),
			g.Text("You voted for "), h.Strong(g.Text(v.Choice)),
		)),
		h.Div(h.Class("options"), g.Map(v.Options, optionForm)),
		h.P(h.Class("tip"), g.Text(tip)),
	)
}

func optionForm(o optionView) g.Node {
	class := "option option-" + o.Key
	if o.Chosen {
		class += " chosen"
	}
	return h.Form(h.Method("post"), h.Action("/"),
		h.Input(h.Type("hidden"), h.Name("vote"), h.Value(o.Key)),
		h.Button(h.Type("submit"), h.Class(class), g.If(o.Chosen, h.Aria("pressed", "true")),
			g.Text(o.Label),
		),
	)
}

func errorPage(f frame, v errorView) g.Node {
	return document(f, v.Title,
		h.H1(g.Text(v.Title)),
		h.P(h.Class("message"), g.Text(v.Message)),
		h.P(h.A(h.Class("back"), h.Href("/"), g.Text("Back to the ballot"))),
	)
}
