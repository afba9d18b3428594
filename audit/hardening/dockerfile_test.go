package hardening

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// goodDockerfile follows every Dockerfile rule; the bad cases below each break one.
const goodDockerfile = `
ARG GO_IMAGE=golang:1.26.8-trixie
ARG RUNTIME_IMAGE=gcr.io/distroless/static-debian13:nonroot
FROM --platform=$BUILDPLATFORM ${GO_IMAGE} AS build
ARG TARGETOS
ARG TARGETARCH
WORKDIR /src/app
ENV CGO_ENABLED=0
COPY app/go.mod app/go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY app/ ./
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath -ldflags "-s -w" -o /out/app .

FROM ${RUNTIME_IMAGE}
ARG VERSION=dev
LABEL org.opencontainers.image.version="${VERSION}"
COPY --from=build /out/app /app
USER 65532:65532
EXPOSE 8080
HEALTHCHECK --interval=10s CMD ["/app", "healthcheck"]
ENTRYPOINT ["/app"]
`

// edit returns the good Dockerfile with old replaced by new; the test fails if old is not there,
// so a case cannot silently test the good file.
func edit(t *testing.T, old, new string) string {
	t.Helper()
	if !strings.Contains(goodDockerfile, old) {
		t.Fatalf("the good Dockerfile has no %q", old)
	}
	return strings.Replace(goodDockerfile, old, new, 1)
}

type dfCase struct {
	rule, name string
	src        func(t *testing.T) string
	want       Status
	line       int // the line Where should name; 0: not checked
}

func dockerfileCases() []dfCase {
	e := func(old, new string) func(t *testing.T) string {
		return func(t *testing.T) string { return edit(t, old, new) }
	}
	raw := func(s string) func(t *testing.T) string { return func(*testing.T) string { return s } }
	return []dfCase{
		{"DF001", "single stage", raw("FROM golang:1.26.8\nCOPY . .\nRUN go build -o /app .\nUSER 65532\nENTRYPOINT [\"/app\"]\n"), Fail, 1},
		{"DF001", "runtime built on the builder stage", e("FROM ${RUNTIME_IMAGE}", "FROM build"), Fail, 15},
		{"DF001", "runtime on the builder's base", e("FROM ${RUNTIME_IMAGE}", "FROM ${GO_IMAGE}"), Fail, 15},
		{"DF001", "runtime copies nothing from the builder", e("COPY --from=build /out/app /app", "COPY app /app"), Fail, 15},
		{"DF002", "no tag", e("ARG RUNTIME_IMAGE=gcr.io/distroless/static-debian13:nonroot", "ARG RUNTIME_IMAGE=gcr.io/distroless/static-debian13"), Fail, 15},
		{"DF002", "latest", e("ARG GO_IMAGE=golang:1.26.8-trixie", "ARG GO_IMAGE=golang:latest"), Fail, 4},
		{"DF002", "short digest", e("ARG GO_IMAGE=golang:1.26.8-trixie", "ARG GO_IMAGE=golang@sha256:abc"), Fail, 4},
		{"DF002", "undeclared variable", e("ARG RUNTIME_IMAGE=gcr.io/distroless/static-debian13:nonroot\n", ""), Fail, 0},
		{"DF003", "no --platform", e("FROM --platform=$BUILDPLATFORM ${GO_IMAGE} AS build", "FROM ${GO_IMAGE} AS build"), Fail, 4},
		{"DF003", "fixed platform", e("--platform=$BUILDPLATFORM", "--platform=linux/amd64"), Fail, 4},
		{"DF003", "no ARG TARGETARCH", e("ARG TARGETARCH\n", ""), Fail, 4},
		{"DF003", "GOARCH not from TARGETARCH", e("GOARCH=$TARGETARCH ", ""), Fail, 12},
		{"DF004", "sources first", e("COPY app/go.mod app/go.sum ./\n", "COPY app/ ./\nCOPY app/go.mod app/go.sum ./\n"), Fail, 9},
		{"DF004", "no go.mod layer", e("COPY app/go.mod app/go.sum ./\n", ""), Fail, 0},
		{"DF004", "no go mod download", e("RUN --mount=type=cache,target=/go/pkg/mod go mod download\n", ""), Fail, 9},
		{"DF005", "download without a cache mount", e("RUN --mount=type=cache,target=/go/pkg/mod go mod download", "RUN go mod download"), Fail, 10},
		{"DF005", "build without a build cache", e("--mount=type=cache,target=/root/.cache/go-build ", ""), Fail, 12},
		{"DF005", "a bind mount is no cache", e("--mount=type=cache,target=/root/.cache/go-build", "--mount=type=bind,target=/root/.cache/go-build"), Fail, 12},
		{"DF006", "no USER", e("USER 65532:65532\n", ""), Fail, 15},
		{"DF006", "USER root", e("USER 65532:65532", "USER root"), Fail, 19},
		{"DF006", "USER 0", e("USER 65532:65532", "USER 0:0"), Fail, 19},
		{"DF006", "USER by name", e("USER 65532:65532", "USER nonroot"), Fail, 19},
		{"DF006", "group by name", e("USER 65532:65532", "USER 65532:nonroot"), Fail, 19},
		{"DF007", "shell form", e(`ENTRYPOINT ["/app"]`, "ENTRYPOINT /app"), Fail, 22},
		{"DF007", "no ENTRYPOINT", e(`ENTRYPOINT ["/app"]`, ""), Fail, 15},
		{"DF007", "entrypoint is a shell", e(`ENTRYPOINT ["/app"]`, `ENTRYPOINT ["/bin/sh", "-c", "/app"]`), Fail, 22},
		{"DF007", "shell-form CMD", e(`ENTRYPOINT ["/app"]`, `ENTRYPOINT ["/app"]`+"\nCMD serve"), Fail, 23},
		{"DF008", "no HEALTHCHECK", e(`HEALTHCHECK --interval=10s CMD ["/app", "healthcheck"]`, ""), Fail, 15},
		{"DF008", "shell form", e(`CMD ["/app", "healthcheck"]`, "CMD curl -f http://localhost:8080/ || exit 1"), Fail, 21},
		{"DF008", "NONE", e(`HEALTHCHECK --interval=10s CMD ["/app", "healthcheck"]`, "HEALTHCHECK NONE"), Fail, 21},
		{"DF009", "ADD https", e("COPY app/ ./", "ADD https://example.com/app.tar.gz ./"), Fail, 11},
		{"DF009", "ADD git", e("COPY app/ ./", "ADD git@github.com:example/app.git ./"), Fail, 11},
		{"DF010", "ENV password", e("ENV CGO_ENABLED=0", "ENV CGO_ENABLED=0 DB_PASSWORD=hunter2"), Fail, 8},
		{"DF010", "ARG token default", e("ARG TARGETOS", "ARG TARGETOS\nARG GITHUB_TOKEN=ghp_x"), Fail, 6},
		{"DF010", "ARG API key", e("ARG VERSION=dev", "ARG VERSION=dev\nARG LLM_API_KEY=sk-1"), Fail, 17},
		{"DF010", "ARG secret without a default", e("ARG TARGETOS", "ARG TARGETOS\nARG NPM_SECRET"), Warn, 6},
		{"DF011", "cgo on", e("ENV CGO_ENABLED=0", "ENV CGO_ENABLED=1"), Fail, 12},
		{"DF011", "no -trimpath", e("go build -trimpath", "go build"), Fail, 12},
		{"DF012", "not stripped", e(`-ldflags "-s -w" `, ""), Warn, 12},
		{"DF012", "only -s", e(`-ldflags "-s -w"`, `-ldflags "-s"`), Warn, 12},
		{"DF013", "RUN in the runtime stage", e("COPY --from=build /out/app /app", "COPY --from=build /out/app /app\nRUN apt-get install -y curl"), Fail, 19},
		{"DF013", "sources copied", e("COPY --from=build /out/app /app", "COPY --from=build /out/app /app\nCOPY --from=build /src /src"), Fail, 19},
		{"DF013", "module cache copied", e("COPY --from=build /out/app /app", "COPY --from=build /out/app /app\nCOPY --from=build /go/pkg/mod /mod"), Fail, 19},
		{"DF013", "context copied", e("COPY --from=build /out/app /app", "COPY --from=build /out/app /app\nCOPY config.yaml /etc/app/"), Fail, 19},
		{"DF014", "privileged port", e("EXPOSE 8080", "EXPOSE 80"), Fail, 20},
		{"DF014", "setcap", e("COPY app/ ./", "COPY app/ ./\nRUN setcap cap_net_bind_service=+ep /usr/local/bin/app"), Fail, 12},
	}
}

func TestDockerfileGood(t *testing.T) {
	d, err := ParseDockerfile("Dockerfile", []byte(goodDockerfile), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range CheckDockerfile(d) {
		if r.Status != Pass {
			t.Errorf("%s %s: %s %s (%s)", r.Rule, r.Title, r.Status, r.Detail, r.Where)
		}
	}
}

func TestDockerfileBad(t *testing.T) {
	for _, tc := range dockerfileCases() {
		t.Run(tc.rule+"/"+tc.name, func(t *testing.T) {
			d, err := ParseDockerfile("Dockerfile", []byte(tc.src(t)), nil)
			if err != nil {
				t.Fatal(err)
			}
			r := result(t, CheckDockerfile(d), tc.rule)
			if r.Status != tc.want {
				t.Fatalf("%s: %s (%s), want %s", tc.rule, r.Status, r.Detail, tc.want)
			}
			if tc.line > 0 {
				if want := fmt.Sprintf("Dockerfile:%d", tc.line); r.Where != want {
					t.Errorf("where %q, want %q", r.Where, want)
				}
			}
			t.Logf("%s %s: %s", r.Rule, r.Status, r.Detail)
		})
	}
}

// The base images are resolved with the ARG defaults and with the build's arguments: both must
// be pinned, and an argument no global ARG declares does not reach FROM.
func TestDockerfileBuildArgs(t *testing.T) {
	for _, tc := range []struct {
		name string
		args map[string]string
		want Status
	}{
		{"pinned stand-in", map[string]string{"RUNTIME_IMAGE": "voting-offline/static:nonroot"}, Pass},
		{"digest", map[string]string{"RUNTIME_IMAGE": "gcr.io/distroless/static@sha256:" + strings.Repeat("ab", 32)}, Pass},
		{"latest from the build", map[string]string{"GO_IMAGE": "golang:latest"}, Fail},
		{"undeclared argument ignored", map[string]string{"OTHER_IMAGE": "x:latest"}, Pass},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := ParseDockerfile("Dockerfile", []byte(goodDockerfile), tc.args)
			if err != nil {
				t.Fatal(err)
			}
			if r := result(t, CheckDockerfile(d), "DF002"); r.Status != tc.want {
				t.Errorf("DF002 %s (%s), want %s", r.Status, r.Detail, tc.want)
			}
		})
	}
}

// The project's own Dockerfiles pass every Dockerfile rule (the one-shots' missing HEALTHCHECK,
// the load tool's and secrets-init's, is waived in the policy, not here).
func TestProjectDockerfiles(t *testing.T) {
	files, _ := filepath.Glob("../../*/Dockerfile")
	if len(files) == 0 {
		t.Skip("no service Dockerfiles next to the audit module")
	}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimPrefix(f, "../../")
		t.Run(name, func(t *testing.T) {
			d, err := ParseDockerfile(name, src, map[string]string{"RUNTIME_IMAGE": "voting-offline/static:nonroot", "GO_IMAGE": "voting-offline/golang:1.26.8"})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range CheckDockerfile(d) {
				if r.Status != Pass && !((name == "loadgen/Dockerfile" || name == "secrets-init/Dockerfile") && r.Rule == "DF008") {
					t.Errorf("%s: %s %s (%s)", r.Rule, r.Status, r.Detail, r.Where)
				}
			}
		})
	}
}

func TestSecretName(t *testing.T) {
	for name, want := range map[string]bool{
		"DB_PASSWORD": true, "REDIS_PASSWORD_FILE": false, "GITHUB_TOKEN": true, "CLIENT_SECRET": true,
		"LLM_API_KEY": true, "APIKEY": true, "LLM_API_KEY_FILE": false, "KEYBOARD_LAYOUT": false,
		"VERSION": false, "REDIS_USERNAME": false, "aws_secret_access_key": true,
	} {
		if got := secretName(name); got != want {
			t.Errorf("secretName(%q) = %v, want %v", name, got, want)
		}
	}
}

func result(t *testing.T, rs []Result, rule string) Result {
	t.Helper()
	for _, r := range rs {
		if r.Rule == rule {
			return r
		}
	}
	t.Fatalf("no result for %s", rule)
	return Result{}
}
