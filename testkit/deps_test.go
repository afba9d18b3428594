package testkit

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The service binaries and the load tool must not link the testing package or any of this module:
// test support stays in the tests, and its edits never change what an image holds.
func TestNoServiceBinaryLinksTestCode(t *testing.T) {
	root, err := filepath.Abs("..") // the workspace root
	if err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"vote", "worker", "result", "analyzer", "loadgen"} {
		t.Run(cmd, func(t *testing.T) {
			// The images build with these tags; without them the same rule holds.
			for _, tags := range []string{"", "nethttpomithttp2"} {
				list := exec.Command("go", "list", "-deps", "-tags", tags, "-f", "{{.ImportPath}}", "./"+cmd)
				list.Dir = root
				out, err := list.CombinedOutput()
				if err != nil {
					t.Fatalf("go list -deps ./%s: %v\n%s", cmd, err, out)
				}
				deps := strings.Fields(string(out))
				if len(deps) < 10 {
					t.Fatalf("go list -deps ./%s listed only %v", cmd, deps)
				}
				for _, dep := range deps {
					if dep == "testing" || strings.HasPrefix(dep, "testing/") ||
						strings.HasPrefix(dep, "github.com/go-voting-app/voting-app/testkit") {
						t.Errorf("%s (tags %q) links %s", cmd, tags, dep)
					}
				}
			}
		})
	}
}
