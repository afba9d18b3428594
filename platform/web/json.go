package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// Encode writes v as JSON with the given status. It encodes into memory first, so that a value
// that cannot be encoded becomes a clean 500 instead of half a document under a 200; a failed
// write means the client went away, and is returned for the caller to ignore or log.
func Encode[T any](w http.ResponseWriter, status int, v T) error {
	return write(w, status, "application/json", v)
}

func write(w http.ResponseWriter, status int, contentType string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
		return fmt.Errorf("encode json: %w", err)
	}
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	_, err = w.Write(append(b, '\n'))
	return err
}

// ErrBodyTooLarge is returned by Decode when the body exceeds its limit.
var ErrBodyTooLarge = errors.New("request body too large")

// Decode reads one JSON value of type T from a body of at most limit bytes. Unknown fields and
// trailing data are errors: a client that sends them has a bug worth hearing about.
func Decode[T any](w http.ResponseWriter, r *http.Request, limit int64) (T, error) {
	var v T
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return v, ErrBodyTooLarge
		}
		return v, fmt.Errorf("decode json: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return v, errors.New("decode json: unexpected data after the JSON value")
	}
	return v, nil
}
