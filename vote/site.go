package main

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"path"
	"strings"

	"github.com/go-voting-app/voting-app/platform/ballot"
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
	assets *assets
	frame  frame
}

func newSite(log *slog.Logger, hostname string) *site {
	static, err := fs.Sub(files, "static")
	if err != nil {
		panic(err) // the directory is embedded: it exists
	}
	a := newAssets(static)
	f := frame{StyleURL: a.path("style.css"), IconURL: a.path("favicon.svg"), Hostname: hostname}
	return &site{log: log, assets: a, frame: f}
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

// writeJSON encodes first, for the same reason as page.
func writeJSON(w http.ResponseWriter, status int, contentType string, v any) {
	b, err := json.Marshal(v)
	if err != nil { // only this package's own response types come here: cannot happen
		http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// contentSecurityPolicy allows nothing but this site's own stylesheet and images, and forms that
// post back to it. The pages have no scripts at all.
const contentSecurityPolicy = "default-src 'none'; style-src 'self'; img-src 'self'; " +
	"form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// securityHeaders go on every response, errors included.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		next.ServeHTTP(w, r)
	})
}

// assets are the static files, each served under a name that carries a hash of its content
// ("style.3f9a1c2b7d4e.css"), so browsers may cache them for a year and still see a new version
// the moment a page links to it.
type assets struct {
	byName map[string]asset // by plain name, "style.css"
}

type asset struct {
	hashedName string
	hash       string
	body       []byte
}

func newAssets(fsys fs.FS) *assets {
	a := &assets{byName: map[string]asset{}}
	err := fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := fs.ReadFile(fsys, name)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		hash := hex.EncodeToString(sum[:6])
		ext := path.Ext(name)
		a.byName[name] = asset{
			hashedName: strings.TrimSuffix(name, ext) + "." + hash + ext,
			hash:       hash,
			body:       body,
		}
		return nil
	})
	if err != nil {
		panic(err) // embedded files are always readable
	}
	return a
}

// path is the URL of an asset. The pages name their assets at start, so a missing one fails every
// test at once.
func (a *assets) path(name string) string {
	f, ok := a.byName[name]
	if !ok {
		panic(fmt.Sprintf("no static asset %q", name))
	}
	return "/static/" + f.hashedName
}

// lookup resolves a hashed name. fresh is false when the hash is not this build's: during a
// rolling update a page from a newer replica may ask an older one, which then serves what it has
// rather than a 404, but only for a moment's caching.
func (a *assets) lookup(hashedName string) (f asset, fresh, ok bool) {
	ext := path.Ext(hashedName)
	stem, hash, found := cutLast(strings.TrimSuffix(hashedName, ext), ".")
	if !found {
		return asset{}, false, false
	}
	f, ok = a.byName[stem+ext]
	return f, ok && f.hash == hash, ok
}

func cutLast(s, sep string) (before, after string, found bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}

func contentType(name string) string {
	if t := mime.TypeByExtension(path.Ext(name)); t != "" {
		return t
	}
	return "application/octet-stream"
}
