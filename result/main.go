// Command result serves the live result page of the voting app: the tally per option, kept current
// over Server-Sent Events from one Postgres LISTEN connection per instance.
package main

import "github.com/go-voting-app/voting-app/platform/app"

func main() { app.Main("result", run) }
