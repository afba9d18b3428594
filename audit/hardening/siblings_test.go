package hardening

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func serviceDockerfiles(t *testing.T) map[string][2]string {
	t.Helper()
	files := map[string][2]string{}
	for _, svc := range DefaultPolicy().Released {
		p := filepath.Join("..", "..", svc, "Dockerfile")
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		files[svc] = [2]string{svc + "/Dockerfile", string(b)}
	}
	return files
}

func TestServiceDockerfilesDifferOnlyWhereMarked(t *testing.T) {
	for svc, r := range CheckSiblingDockerfiles(serviceDockerfiles(t)) {
		if r.Status != Pass {
			t.Errorf("%s: %s %s (%s)", svc, r.Status, r.Detail, r.Where)
		}
	}
}

// Each way of breaking DF015 in one file makes that file fail and only that one.
func TestSiblingDockerfilesBroken(t *testing.T) {
	cases := map[string]struct {
		svc, old, new string
		where         string
	}{
		"an unmarked line changed": {"result", "USER 65532:65532", "USER 65532", "result/Dockerfile:"},
		"a line added":             {"worker", "ENTRYPOINT [", "STOPSIGNAL SIGTERM\nENTRYPOINT [", "worker/Dockerfile:"},
		"a comment changed":        {"analyzer", "# Non-root user", "# A non-root user", "analyzer/Dockerfile:"},
		"a marker removed":         {"vote", "# differs: the ports the service listens on.\n", "", "vote/Dockerfile:"},
		"another service's name":   {"worker", "COPY --from=build /out/worker /worker", "COPY --from=build /out/vote /worker", "worker/Dockerfile:"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			files := serviceDockerfiles(t)
			f := files[c.svc]
			if !strings.Contains(f[1], c.old) {
				t.Fatalf("%s has no %q", c.svc, c.old)
			}
			files[c.svc] = [2]string{f[0], strings.Replace(f[1], c.old, c.new, 1)}
			for svc, r := range CheckSiblingDockerfiles(files) {
				switch {
				case svc == c.svc && (r.Status != Fail || !strings.HasPrefix(r.Where, c.where)):
					t.Errorf("%s: %s at %s (%s), want fail at %s…", svc, r.Status, r.Where, r.Detail, c.where)
				case svc != c.svc && r.Status != Pass:
					t.Errorf("%s: %s (%s), want pass", svc, r.Status, r.Detail)
				}
			}
		})
	}
}

// What a marked block holds may differ, continuation lines included.
func TestSiblingMarkedBlock(t *testing.T) {
	df := func(label string) string {
		return "FROM scratch\n# differs: the description.\n# more words\nLABEL a=\"" + label + "\" \\\n      b=\"" + label + "\"\nUSER 1:1\n"
	}
	files := map[string][2]string{"a": {"a", df("one")}, "b": {"b", df("two")}, "c": {"c", df("three")}}
	for svc, r := range CheckSiblingDockerfiles(files) {
		if r.Status != Pass {
			t.Errorf("%s: %s %s", svc, r.Status, r.Detail)
		}
	}
}
