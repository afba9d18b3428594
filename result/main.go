// Command result serves the live result page of the voting app: the tally per option, kept current
// over Server-Sent Events from one Postgres LISTEN connection per instance.
//
// Routes (HTTP_ADDR, default :8081):
//
//	GET /              the page, server-rendered, live with JavaScript
//	GET /events        the tally as Server-Sent Events ("tally" events, heartbeat comments)
//	GET /api/results   the tally as JSON
//	GET /static/{name} the page's style sheet and script
//
// /livez, /readyz and /metrics are on OPS_ADDR (default :9090).
//
// Environment, besides the common LOG_LEVEL, DRAIN_DELAY and SHUTDOWN_TIMEOUT:
//
//	OPTION_A, OPTION_B          option labels (Cats, Dogs)
//	DATABASE_URL                a role that can only SELECT; PG* variables work too
//	DATABASE_PASSWORD(_FILE)    its password
//	TALLY_MIN_INTERVAL          at most one tally query per interval (250ms)
//	TALLY_RECHECK_INTERVAL      query at least this often, in case a notification was missed (10s)
//	SSE_HEARTBEAT_INTERVAL      comment line on idle streams, for proxies (15s)
//	SSE_MAX_STREAMS             open streams per instance; beyond it /events answers 503 (10000)
package main

import "github.com/go-voting-app/voting-app/platform/app"

func main() { app.Main("result", run) }
