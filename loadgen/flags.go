package main

import (
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/go-voting-app/voting-app/loadgen/internal/plan"
)

// config is the whole run, read from the command line once.
type config struct {
	target      string // base URL of the vote service
	api         string // apiForm or apiJSON
	ids         string // idsClient or idsServer
	plan        plan.Settings
	duration    time.Duration // 0: until the plan ends
	rate        float64       // votes per second; 0: closed loop
	concurrency int           // requests in flight at most
	timeout     time.Duration // per request

	wait        bool
	waitTimeout time.Duration

	expectPath    string
	verifyURL     string
	verifyTimeout time.Duration
	verifySettle  time.Duration

	json     bool
	progress time.Duration // 0: no progress lines
}

// maxVoters bounds the ledger: about 100 bytes a voter.
const maxVoters = 10_000_000

// How votes are sent and who names the voters.
const (
	apiForm   = "form"   // POST / with vote=a, as the ballot page does; 303 when accepted
	apiJSON   = "json"   // POST /api/v1/votes with {"vote":"a"}; 202 when accepted
	idsClient = "client" // the tool makes each voter's id and sends it as the voter_id cookie
	idsServer = "server" // a voter's first vote has no cookie; the response's voter_id names it
)

const usageHead = `Usage: loadgen [flags]

Casts votes at the vote service as many voters at once, and reports throughput, latency
percentiles and errors by kind. It keeps each voter's last accepted vote, can write the tally
that must follow (-expect) and check the result service against it (-verify-url).

Targets: only this machine (loopback: 127.0.0.0/8, ::1) or a container network (private
addresses: 10/8, 172.16/12, 192.168/16, fc00::/7), which is what compose and Kubernetes
service names resolve to. Any other host is refused, once when it is named and again on every
connection, so the tool cannot be aimed at someone else's server.

Outcomes: 303 (form) or 202 (API) is accepted; 4xx and refused connections are rejected (not
applied); timeouts, broken connections and 5xx are unknown, since the vote may still have been
applied. Verification is exact when no vote is unknown, and otherwise checks every count
against the least and the most those votes allow.

Examples:
  loadgen -target http://localhost:8080 -voters 20000 -votes 100000 -change 0.3 -split 0.6
  loadgen -target http://vote:8080 -wait -rate 500 -votes 0 -duration 1m \
          -verify-url http://result:8081/api/results

Flags:
`

// parseFlags reads the command line. -help prints the usage and returns flag.ErrHelp.
func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usageHead)
		fs.PrintDefaults()
	}
	fs.StringVar(&c.target, "target", "http://localhost:8080", "base `URL` of the vote service")
	fs.StringVar(&c.api, "api", apiForm, "how to vote: form (POST / like the ballot page) or json (POST /api/v1/votes)")
	fs.StringVar(&c.ids, "ids", idsClient, "voter ids: client (made here, 32 hex characters, saves a round trip) or server (issued in the first response)")
	fs.IntVar(&c.plan.Voters, "voters", 1000, "distinct voters; each votes once if -votes allows, and later votes are changes by voters who have voted")
	fs.IntVar(&c.plan.Votes, "votes", 10000, "votes in all, first votes and changes; 0 for no limit (then set -duration)")
	fs.Float64Var(&c.plan.Change, "change", 0.3, "share of changes among votes while some voters have not voted; once all have, every vote is a change")
	fs.Float64Var(&c.plan.Split, "split", 0.5, "share of votes for option a; the rest go to b")
	fs.Uint64Var(&c.plan.Seed, "seed", 0, "seed of the vote plan; 0 picks one at random (the report shows it, to repeat a run)")
	fs.DurationVar(&c.duration, "duration", 0, "stop sending after this long; 0 for no limit")
	fs.Float64Var(&c.rate, "rate", 0, "open loop: votes per second on a fixed schedule, latency measured from each vote's scheduled time; 0 for closed loop")
	fs.IntVar(&c.concurrency, "concurrency", 32, "requests in flight at most (and keep-alive connections); the closed loop keeps this many busy")
	fs.DurationVar(&c.timeout, "timeout", 5*time.Second, "per-request timeout")
	fs.BoolVar(&c.wait, "wait", false, "before starting, wait until the target answers GET / (and -verify-url answers)")
	fs.DurationVar(&c.waitTimeout, "wait-timeout", time.Minute, "how long -wait waits")
	fs.StringVar(&c.expectPath, "expect", "", "write the expected tally and every voter's last accepted vote to this JSON `file`")
	fs.StringVar(&c.verifyURL, "verify-url", "", "result service `URL` (…/api/results): check its tally against the expected one after the run")
	fs.DurationVar(&c.verifyTimeout, "verify-timeout", time.Minute, "how long to wait for the tally to match")
	fs.DurationVar(&c.verifySettle, "verify-settle", 3*time.Second, "with unknown outcomes, how long the tally must hold still within the bounds")
	fs.BoolVar(&c.json, "json", false, "print the report as JSON")
	fs.DurationVar(&c.progress, "progress", 10*time.Second, "interval of progress lines on stderr; 0 for none")

	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q (flags only; see -help)", fs.Arg(0))
	}
	if c.plan.Seed == 0 {
		c.plan.Seed = rand.Uint64() | 1 // never 0, so the report's seed repeats this run
	}
	return c, c.validate()
}

func (c config) validate() error {
	var bad []string
	check := func(ok bool, format string, args ...any) {
		if !ok {
			bad = append(bad, fmt.Sprintf(format, args...))
		}
	}
	check(c.api == apiForm || c.api == apiJSON, "-api %q: want form or json", c.api)
	check(c.ids == idsClient || c.ids == idsServer, "-ids %q: want client or server", c.ids)
	if err := c.plan.Validate(); err != nil {
		bad = append(bad, strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	check(c.plan.Voters <= maxVoters, "-voters %d: want at most %d (the ledger keeps every voter in memory)", c.plan.Voters, maxVoters)
	check(c.plan.Votes > 0 || c.duration > 0, "nothing ends the run: set -votes or -duration")
	check(c.duration >= 0, "-duration %s: want 0 or more", c.duration)
	check(c.rate >= 0 && c.rate <= 1e6, "-rate %v: want 0 (closed loop) up to 1e6 votes/s", c.rate)
	check(c.concurrency >= 1 && c.concurrency <= 10000, "-concurrency %d: want 1 to 10000", c.concurrency)
	check(c.timeout > 0, "-timeout %s: want more than 0", c.timeout)
	check(c.waitTimeout > 0, "-wait-timeout %s: want more than 0", c.waitTimeout)
	check(c.verifyTimeout > 0, "-verify-timeout %s: want more than 0", c.verifyTimeout)
	check(c.verifySettle >= 0, "-verify-settle %s: want 0 or more", c.verifySettle)
	check(c.progress >= 0, "-progress %s: want 0 or more", c.progress)
	if len(bad) > 0 {
		return fmt.Errorf("flags: %s", strings.Join(bad, "; "))
	}
	return nil
}
