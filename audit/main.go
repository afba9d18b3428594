// Command audit checks the project's container hardening and measures its images.
//
//	audit [check]   Dockerfile, image and compose rules for every compose service (non-zero exit on a failure)
//	audit selftest  builds a deliberately bad image with the engine and expects the audit to fail it
//	audit sizes     image, layer and binary sizes of the service images (docs/sizes.md, docs/sizes.svg)
//	audit ladder    builds the vote image in the variants of deploy/size-ladder and compares them
//	audit docs      regenerates the tables of docs/hardening.md (-check: only verify them)
//	audit rules     the rule catalogue as Markdown
//	audit standin   compares the distroless-static stand-in with what the upstream image is built from
//
// Run it from the repository root after the images are built (make images). On an engine without
// a registry pass the compose env file that names the local bases: -env-file deploy/compose/offline.env.
// `audit <command> -h` lists each command's flags.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args, os.Getenv, os.Stdout, os.Stderr)
	stop()
	switch {
	case errors.Is(err, errFailed):
		// The report already ends with the verdict.
		os.Exit(1)
	case err != nil:
		fmt.Fprintf(os.Stderr, "audit: %v\n", err)
		os.Exit(1)
	}
}
