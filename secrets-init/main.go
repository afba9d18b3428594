// Command secrets-init gives a compose stack its secrets on its first start: random passwords,
// kept in a volume of their own and never replaced, and for each service a read-only volume with
// the files it may read (the Redis ACL derived from the Redis passwords). It runs once before the
// other services (depends_on: service_completed_successfully) and exits; running it again changes
// nothing. Secrets an operator supplies as files in /run/secrets are taken instead of random ones
// (deploy/compose/own-secrets.yml).
//
//	secrets-init [-root /secrets] [-supplied /run/secrets] SHARE=SECRET[,SECRET...]...
package main

import "github.com/go-voting-app/voting-app/platform/app"

func main() { app.Main("secrets-init", run) }
