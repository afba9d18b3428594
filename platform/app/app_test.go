package app

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-voting-app/voting-app/platform/ops"
)

func TestDispatch(t *testing.T) {
	ops := httptest.NewServer(ops.Handler(ops.NewProbe(), ops.NewRegistry("t")))
	defer ops.Close()
	opsAddr := strings.TrimPrefix(ops.URL, "http://")

	errRun := errors.New("run called")
	run := func(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
		return errRun
	}
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr error
		wantOut string
	}{
		{"no subcommand runs the service", []string{"svc"}, nil, errRun, ""},
		{"version", []string{"svc", "version"}, nil, nil, "svc dev (unknown)"},
		{"healthcheck against a ready service", []string{"svc", "healthcheck"}, map[string]string{"OPS_ADDR": opsAddr}, nil, ""},
		{"healthcheck with nothing listening", []string{"svc", "healthcheck"}, map[string]string{"OPS_ADDR": "127.0.0.1:1"}, errAny, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			err := dispatch(context.Background(), "svc", run, tt.args, func(k string) string { return tt.env[k] }, &out, io.Discard)
			switch {
			case tt.wantErr == errAny:
				if err == nil {
					t.Fatal("want an error")
				}
			case !errors.Is(err, tt.wantErr):
				t.Fatalf("err %v, want %v", err, tt.wantErr)
			}
			if !strings.Contains(out.String(), tt.wantOut) {
				t.Fatalf("output %q, want %q", out.String(), tt.wantOut)
			}
		})
	}
}

var errAny = errors.New("any error")

func TestNewLogger(t *testing.T) {
	var buf bytes.Buffer
	log, err := NewLogger(&buf, "svc", "warn")
	if err != nil {
		t.Fatal(err)
	}
	log.Info("hidden")
	log.Warn("shown")
	if strings.Contains(buf.String(), "hidden") || !strings.Contains(buf.String(), `"service":"svc"`) {
		t.Fatalf("log output %q", buf.String())
	}
	if _, err := NewLogger(&buf, "svc", "loud"); err == nil {
		t.Fatal("an unknown LOG_LEVEL was accepted")
	}
}
