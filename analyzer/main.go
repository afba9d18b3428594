// Command analyzer serves statistics about the poll as a versioned JSON API, read from Postgres
// with a role that can only SELECT:
//
//	GET /api/v1/summary      totals, shares with Wilson intervals, margin, significance, P(lead holds)
//	GET /api/v1/timeline     votes per option per time bucket (?bucket=1m&from=…&to=…)
//	GET /api/v1/momentum     recent share against overall share (?window=5m)
//	GET /api/v1/anomalies    bursts of votes and voters who keep changing their vote
//	GET /api/v1/insight      a narrative paragraph, by rules or by a configured model
//	GET /api/v1/openapi.yaml the OpenAPI document, where every parameter and method is described
//
// Environment, besides the common HTTP_ADDR (default :8082), OPS_ADDR, LOG_LEVEL, DRAIN_DELAY and
// SHUTDOWN_TIMEOUT:
//
//	OPTION_A, OPTION_B            option labels (Cats, Dogs)
//	DATABASE_URL, DATABASE_PASSWORD(_FILE), DATABASE_MAX_CONNS (10)
//	QUERY_TIMEOUT                 statement_timeout of every query and deadline of a read (5s)
//	LLM_BASE_URL, LLM_MODEL       an OpenAI-compatible endpoint, e.g. http://llm:8000/v1 (off)
//	LLM_API_KEY(_FILE)            its bearer token, if it wants one
//	LLM_TIMEOUT                   bound of one call to the model (10s)
//	LLM_MAX_INFLIGHT              calls to the model at once; beyond, rules answer (2)
//	INSIGHT_CACHE_TTL             how long an insight is reused for equal figures (30s)
package main

import "github.com/go-voting-app/voting-app/platform/app"

func main() { app.Main("analyzer", run) }
