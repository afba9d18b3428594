// Command loadgen casts votes at the vote service from many voters at once, measures throughput
// and latency, and checks that the tally the result service shows is the one the votes imply. It
// serves the compose seed profile, benchmarks and fault-injection tests, and only ever sends load
// to this machine or a container network.
package main

import "github.com/go-voting-app/voting-app/platform/app"

func main() { app.Main("loadgen", run) }
