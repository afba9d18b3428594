package main

import (
	"bytes"
	"embed"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"

	"github.com/go-voting-app/voting-app/platform/ballot"
	"github.com/go-voting-app/voting-app/platform/web"
	g "maragu.dev/gomponents"
)

// files are the static assets, built into the binary: the image has no files besides it, and no
// page depends on a CDN.
//
//go:embed static/*
var files embed.FS

// site renders pages and errors. Everything on it is fixed at start.
type site struct {
	log    *slog.Logger
	assets *web.Assets
	frame  frame
}

func newSite(log *slog.Logger, hostname string) *site {
	static, err := fs.Sub(files, "static")
	if err == nil {
		var a *web.Assets
		if a, err = web.NewAssets(static, "/static/"); err == nil {
			f := frame{StyleURL: a.Path("style.css"), IconURL: a.Path("favicon.svg"), Hostname: hostname}
			return &site{log: log, assets: a, frame: f}
		}
	}
	panic(err) // the files are embedded: they exist and are readable
}

// question is the ballot's heading, "Cats or Dogs?".
func question(opts ballot.Options) string {
	labels := make([]string, len(opts))
	for i, o := range opts {
		labels[i] = o.Label
	}
	return strings.Join(labels, " or ") + "?"
}

// page renders into memory first, so that a failing page becomes a clean 500 instead of half a
// page under a 200.
func (s *site) page(w http.ResponseWriter, status int, doc g.Node) {
	var buf bytes.Buffer
	if err := doc.Render(&buf); err != nil {
		s.log.Error("render page", "err", err)
		http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	// Pages show the visitor's own choice: no shared cache may keep them.
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// contentSecurityPolicy allows nothing but this site's own stylesheet and images, and forms that
// post back to it. The pages have no scripts at all.
const contentSecurityPolicy = "default-src 'none'; style-src 'self'; img-src 'self'; " +
	"form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
