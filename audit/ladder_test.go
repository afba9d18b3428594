package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/go-voting-app/voting-app/audit/hardening"
)

// The ladder's multi-stage variants build the binary exactly as vote/Dockerfile does, so the
// steps differ only in what surrounds the binary.
func TestLadderBuildsLikeVote(t *testing.T) {
	want := goBuildSteps(t, "vote/Dockerfile")
	for _, r := range ladder() {
		if r.step == "1-naive" || r.dockerfile == "vote/Dockerfile" {
			continue
		}
		if got := goBuildSteps(t, r.dockerfile); !slices.Equal(got, want) {
			t.Errorf("%s builds with\n%q\nvote/Dockerfile with\n%q", r.dockerfile, got, want)
		}
	}
}

// goBuildSteps returns the Dockerfile's builder steps from the first COPY on: the files copied and
// the commands run.
func goBuildSteps(t *testing.T, name string) []string {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("..", name))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(src), "\n")
	var steps []string
	var cont bool
	inBuild := false
	for _, l := range lines {
		l = strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(l, "FROM "):
			inBuild = strings.HasSuffix(l, " AS build")
			continue
		case !inBuild || strings.HasPrefix(l, "#") || l == "":
			continue
		}
		if cont {
			steps[len(steps)-1] += " " + strings.TrimSuffix(l, "\\")
		} else if strings.HasPrefix(l, "COPY ") || strings.HasPrefix(l, "RUN ") || strings.HasPrefix(l, "ENV ") {
			steps = append(steps, strings.TrimSuffix(l, "\\"))
		} else {
			continue
		}
		cont = strings.HasSuffix(l, "\\")
	}
	if len(steps) == 0 {
		t.Fatalf("%s: no build stage", name)
	}
	return steps
}

func TestLadderDockerfilesParse(t *testing.T) {
	for _, r := range ladder() {
		src, err := os.ReadFile(filepath.Join("..", r.dockerfile))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := hardening.ParseDockerfile(r.dockerfile, src, nil); err != nil {
			t.Error(err)
		}
	}
}
