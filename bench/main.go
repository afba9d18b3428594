// Command bench measures the voting app on this machine and writes a report: the vote service
// against the least an HTTP server can do per vote, the worker's drain against the raw cost of its
// SQL, the time from a vote's 303 to the tally change on a result stream, one result instance
// holding thousands of streams, each service's memory and start time, and the Go micro-benchmarks
// of the hot paths. Every figure is quoted against its target with the command that repeats it.
//
//	go run ./bench                      everything (about 6 minutes): docs/bench.md, docs/bench-*.svg
//	go run ./bench -only vote,e2e       some sections; the report covers what ran
//	go run ./bench -from out/bench/results.json   re-render the report from a previous run
//
// It builds the services and the load tool from the workspace, starts private PostgreSQL and Redis
// servers from the local binaries (as testkit does), runs the services as processes, and
// for the footprint section starts the compose stack under its own project name. Raw results,
// logs and pprof profiles go to out/bench/, which git ignores.
package main

import "github.com/go-voting-app/voting-app/platform/app"

func main() { app.Main("bench", run) }
