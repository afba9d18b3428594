# Size ladder, step 1: the naive image — what a first Dockerfile for a Go service often looks
# like. One stage on the Go toolchain image; the sources copied in and built in place; the module
# cache, the build cache, the compiler, a shell and a package manager all ship; it runs as root.
# Built by `make size-ladder` (build context: the repository root); never deployed.
ARG GO_IMAGE=golang:1.26.8-trixie
FROM ${GO_IMAGE}
WORKDIR /src/vote
ENV GOWORK=off
COPY platform/ /src/platform/
COPY testkit/go.mod testkit/go.sum /src/testkit/
COPY vote/ /src/vote/
RUN go build -o /usr/local/bin/vote .
EXPOSE 8080
CMD ["vote"]
