package testkit

import (
	"strings"
	"testing"

	"github.com/go-voting-app/voting-app/testkit/servers"
)

// Without the server binaries the harness must fail with instructions, not skip.
func TestMissingBinariesSayHowToInstall(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	if _, err := servers.NewRedis(false); err == nil || !strings.Contains(err.Error(), "apt-get install redis-server") {
		t.Fatalf("redis: %v", err)
	}
}

func TestWithDatabase(t *testing.T) {
	tests := []struct{ in, want string }{
		{"postgres://u:p@h:5432/postgres?sslmode=disable", "postgres://u:p@h:5432/t_x?sslmode=disable"},
		{"postgresql://h/db", "postgresql://h/t_x"},
	}
	for _, tt := range tests {
		got, err := withDatabase(tt.in, "t_x")
		if err != nil || got != tt.want {
			t.Errorf("withDatabase(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	if _, err := withDatabase("host=x dbname=y", "t"); err == nil {
		t.Error("a key=value string was accepted; the harness needs a URL")
	}
}
