package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// Encode writes v as JSON with the given status.
func Encode[T any](w http.ResponseWriter, status int, v T) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if err := json.NewEncoder(w).Encode(v); err != nil {
		return fmt.Errorf("encode json: %w", err)
	}
	return nil
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
