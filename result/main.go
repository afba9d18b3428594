// Command result serves the live result page of the voting app and its JSON API; README.md says
// how it works and how to configure it.
package main

import "github.com/go-voting-app/voting-app/platform/app"

func main() { app.Main("result", run) }
