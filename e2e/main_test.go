package e2e

import (
	"testing"

	"github.com/go-voting-app/voting-app/testkit"
)

// TestMain stops the PostgreSQL and Redis servers the browser test started. The compose test (build
// tag e2e) starts none, so for it this only runs the tests.
func TestMain(m *testing.M) { testkit.Main(m) }
