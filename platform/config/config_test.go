package config

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func envOf(m map[string]string) *Env {
	e := New(func(k string) string { return m[k] })
	e.readFile = func(p string) ([]byte, error) {
		if v, ok := m["file:"+p]; ok {
			return []byte(v), nil
		}
		return nil, fs.ErrNotExist
	}
	return e
}

func TestGetters(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		get     func(*Env) any
		want    any
		wantErr string
	}{
		{"string default", nil, func(e *Env) any { return e.String("X", "d") }, "d", ""},
		{"string set, trimmed", map[string]string{"X": " v "}, func(e *Env) any { return e.String("X", "d") }, "v", ""},
		{"int default", nil, func(e *Env) any { return e.Int("N", 7, 1, 10) }, 7, ""},
		{"int set", map[string]string{"N": "3"}, func(e *Env) any { return e.Int("N", 7, 1, 10) }, 3, ""},
		{"int not a number", map[string]string{"N": "x"}, func(e *Env) any { return e.Int("N", 7, 1, 10) }, 7, "N: \"x\" is not an integer"},
		{"int out of range", map[string]string{"N": "11"}, func(e *Env) any { return e.Int("N", 7, 1, 10) }, 7, "outside [1, 10]"},
		{"duration set", map[string]string{"D": "250ms"}, func(e *Env) any { return e.Duration("D", time.Second, 0, time.Minute) }, 250 * time.Millisecond, ""},
		{"duration bad", map[string]string{"D": "soon"}, func(e *Env) any { return e.Duration("D", time.Second, 0, time.Minute) }, time.Second, "not a duration"},
		{"duration too long", map[string]string{"D": "2h"}, func(e *Env) any { return e.Duration("D", time.Second, 0, time.Minute) }, time.Second, "outside"},
		{"bool yes", map[string]string{"B": "yes"}, func(e *Env) any { return e.Bool("B", false) }, true, ""},
		{"bool 0", map[string]string{"B": "0"}, func(e *Env) any { return e.Bool("B", true) }, false, ""},
		{"bool bad", map[string]string{"B": "maybe"}, func(e *Env) any { return e.Bool("B", true) }, true, "not a boolean"},
		{"secret direct", map[string]string{"S": "pw"}, func(e *Env) any { return e.Secret("S").Reveal() }, "pw", ""},
		{"secret file, newline trimmed", map[string]string{"S_FILE": "/run/s", "file:/run/s": "pw\n"}, func(e *Env) any { return e.Secret("S").Reveal() }, "pw", ""},
		{"secret file keeps inner newlines", map[string]string{"S_FILE": "/run/s", "file:/run/s": "a\nb\n"}, func(e *Env) any { return e.Secret("S").Reveal() }, "a\nb", ""},
		{"secret file missing", map[string]string{"S_FILE": "/nope"}, func(e *Env) any { return e.Secret("S").Reveal() }, "", "S_FILE: cannot read secret file"},
		{"secret both set", map[string]string{"S": "a", "S_FILE": "/run/s"}, func(e *Env) any { return e.Secret("S").Reveal() }, "", "not both"},
		{"secret unset", nil, func(e *Env) any { return e.Secret("S").Reveal() }, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := envOf(tt.env)
			got := tt.get(e)
			if got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
			err := e.Err()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("error = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestErrCollectsEveryProblem(t *testing.T) {
	e := envOf(map[string]string{"A": "x", "B": "y"})
	e.Int("A", 0, 0, 1)
	e.Duration("B", 0, 0, 1)
	var joined interface{ Unwrap() []error }
	if !errors.As(e.Err(), &joined) || len(joined.Unwrap()) != 2 {
		t.Fatalf("want two problems, got %v", e.Err())
	}
}

func TestSecretNeverPrints(t *testing.T) {
	s := Secret("hunter2")
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "pw", s)
	for _, out := range []string{fmt.Sprint(s), fmt.Sprintf("%v %s", s, s), buf.String()} {
		if strings.Contains(out, "hunter2") {
			t.Fatalf("secret leaked: %s", out)
		}
	}
	if Secret("").String() != "" {
		t.Fatal("an unset secret should print empty, so logs show it is missing")
	}
}
