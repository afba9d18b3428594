// Command analyzer serves statistics about the poll as a versioned JSON API: shares with
// confidence intervals, votes over time, momentum, anomalies and a narrative summary, read from
// Postgres with a role that can only SELECT.
package main

import "github.com/go-voting-app/voting-app/platform/app"

func main() { app.Main("analyzer", run) }
