# Size ladder, step 4: the binary alone on scratch. Smallest possible, and what it lacks shows:
# no CA bundle (outgoing TLS fails to verify), no time zone data (time.LoadLocation fails unless
# the binary embeds time/tzdata), no /etc/passwd (the user is non-root by number only, with no
# name or home), no /tmp. Step 3 is the project's own vote/Dockerfile (distroless static), which
# adds exactly those files for about 2 MiB.
# Built by `make size-ladder` (build context: the repository root); never deployed.
ARG GO_IMAGE=golang:1.26.8-trixie

FROM --platform=$BUILDPLATFORM ${GO_IMAGE} AS build
ARG TARGETOS
ARG TARGETARCH
WORKDIR /src/vote
ENV GOWORK=off CGO_ENABLED=0
COPY platform/go.mod platform/go.sum /src/platform/
COPY testkit/go.mod testkit/go.sum /src/testkit/
COPY vote/go.mod vote/go.sum /src/vote/
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY platform/ /src/platform/
COPY vote/ /src/vote/
ARG VERSION=dev
ARG REVISION=unknown
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath -tags nethttpomithttp2 \
      -ldflags "-s -w -X github.com/go-voting-app/voting-app/platform/buildinfo.Version=${VERSION} -X github.com/go-voting-app/voting-app/platform/buildinfo.Revision=${REVISION}" \
      -o /out/vote .

FROM scratch
ARG VERSION=dev
ARG REVISION=unknown
ARG CREATED=1970-01-01T00:00:00Z
ARG SOURCE=https://github.com/go-voting-app/voting-app
LABEL org.opencontainers.image.title="vote (size ladder: scratch)" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.base.name="scratch"
COPY --from=build /out/vote /vote
USER 65532:65532
EXPOSE 8080 9090
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 CMD ["/vote", "healthcheck"]
ENTRYPOINT ["/vote"]
