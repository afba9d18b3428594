// Command vote serves the ballot: a page where people vote, and a small JSON API that does the same
// for programs. Every vote goes onto a Redis stream, which the worker applies to Postgres.
package main

import "github.com/go-voting-app/voting-app/platform/app"

func main() { app.Main("vote", run) }
