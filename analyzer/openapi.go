package main

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"net/http"
	"time"
)

// openAPI describes the API. It is served as written; the tests load it with an OpenAPI library,
// validate it, and check every endpoint's answers against it, so the binary needs no parser.
//
//go:embed openapi.yaml
var openAPI []byte

func handleOpenAPI() http.HandlerFunc {
	sum := sha256.Sum256(openAPI)
	etag := `"` + hex.EncodeToString(sum[:8]) + `"`
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/yaml")
		w.Header().Set("ETag", etag)
		w.Header().Set("Cache-Control", "no-cache") // revalidate: cheap with the ETag, and right after a deploy
		http.ServeContent(w, r, "openapi.yaml", time.Time{}, bytes.NewReader(openAPI))
	}
}
