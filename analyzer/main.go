// Command analyzer serves statistics about the poll as a versioned JSON API; README.md says what
// it computes and how to configure it.
package main

import "github.com/go-voting-app/voting-app/platform/app"

func main() { app.Main("analyzer", run) }
