// Package e2e tests the whole system the way docker-compose.yml runs it: it starts the stack under
// its own project name, votes through the published vote port as many browsers would, and checks
// that the result page's event stream, the results API and the analyzer agree on the exact tally.
// It then checks what the compose file promises about isolation: every container runs as a
// non-root user, without capabilities, with a read-only root file system, limits and a healthy
// healthcheck, and each service reaches only the networks it needs.
//
// The compose tests carry the build tag e2e, so `go test ./...` never starts them; they need a
// Docker engine, the compose plugin and the service images built beforehand:
//
//	make e2e
//	docker compose --env-file deploy/compose/offline.env build && cd e2e && go test -tags e2e -count=1 -v .
//
// TestBareClone (make e2e-clone) starts from a fresh clone of HEAD instead: bare `docker compose
// up` there, with nothing run before it but, on an engine without a registry, the ./.env that
// make bases writes; see its comment.
//
// Environment:
//
//	E2E_ENV_FILE   compose --env-file, relative to the repository root (e.g. deploy/compose/offline.env)
//	E2E_PROJECT    compose project name (default voting-app-e2e), so a running `make up` stack is left alone
//	E2E_VOTERS     how many voters cast votes (default 300)
//	E2E_KEEP=1     leave the stack running afterwards, for a look around; the next run removes it
//
// TestBrowser has no build tag and runs with every `go test`: it builds the vote, worker and result
// commands, runs them as child processes against the PostgreSQL and Redis servers of
// testkit, and drives Debian's chromium (chromedp) through the vote page's form while the
// result page, open in another tab, follows the votes without a reload. It fails when chromium is
// not installed.
package e2e
