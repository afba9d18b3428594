package web

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
)

// Assets are a service's static files, built into its binary, each served under a name that
// carries a hash of its content ("style.3f9a1c2b7d4e.css"), so browsers may cache them for a year
// and still fetch a new version the moment a page links to it. A hash in the name, not a query
// string, because some caches ignore query strings.
type Assets struct {
	prefix string           // URL path the files are served under, "/static/"
	byName map[string]asset // by plain name, "style.css"
}

type asset struct {
	hashedName string
	hash       string
	ctype      string
	body       []byte
}

// NewAssets loads every file of fsys, to be served under prefix.
func NewAssets(fsys fs.FS, prefix string) (*Assets, error) {
	a := &Assets{prefix: prefix, byName: map[string]asset{}}
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
		ctype := mime.TypeByExtension(ext)
		if ctype == "" {
			ctype = "application/octet-stream"
		}
		a.byName[name] = asset{hashedName: strings.TrimSuffix(name, ext) + "." + hash + ext, hash: hash, ctype: ctype, body: body}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("static files: %w", err)
	}
	return a, nil
}

// Path is the URL of the file name. Pages name their files when they are built, so a missing one
// fails at once; it panics.
func (a *Assets) Path(name string) string {
	f, ok := a.byName[name]
	if !ok {
		panic(fmt.Sprintf("no static file %q", name))
	}
	return a.prefix + f.hashedName
}

// Serve answers a request for a hashed name, the last element of the request's path; notFound
// answers any other. A name whose hash is not this build's is still served, but only for a
// moment's caching: during a rolling update a page from a newer replica may ask an older one.
func (a *Assets) Serve(notFound http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, fresh, ok := a.lookup(path.Base(r.URL.Path))
		if !ok {
			notFound.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Type", f.ctype)
		h.Set("ETag", `"`+f.hash+`"`)
		if fresh {
			h.Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			h.Set("Cache-Control", "no-cache")
		}
		http.ServeContent(w, r, f.hashedName, time.Time{}, bytes.NewReader(f.body))
	})
}

func (a *Assets) lookup(hashedName string) (f asset, fresh, ok bool) {
	ext := path.Ext(hashedName)
	stem := strings.TrimSuffix(hashedName, ext)
	i := strings.LastIndex(stem, ".")
	if i < 0 {
		return asset{}, false, false
	}
	f, ok = a.byName[stem[:i]+ext]
	return f, ok && f.hash == stem[i+1:], ok
}
