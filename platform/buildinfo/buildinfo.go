// Package buildinfo carries the version stamped into a binary at link time:
//
//	go build -ldflags "-X github.com/go-voting-app/voting-app/platform/buildinfo.Version=v1.2.3 \
//	                   -X github.com/go-voting-app/voting-app/platform/buildinfo.Revision=abc123"
package buildinfo

// Set by the linker; the defaults describe a development build.
var (
	Version  = "dev"
	Revision = "unknown"
)
