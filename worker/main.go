// Command worker moves votes from the Redis stream into PostgreSQL: in batches, acknowledged only
// after the transaction commits, the voter's last vote winning, malformed entries set aside.
package main

import "github.com/go-voting-app/voting-app/platform/app"

func main() { app.Main("worker", run) }
