package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/go-voting-app/voting-app/loadgen/internal/latency"
	"github.com/go-voting-app/voting-app/loadgen/internal/ledger"
	"github.com/go-voting-app/voting-app/loadgen/internal/plan"
	"github.com/go-voting-app/voting-app/loadgen/internal/target"
	"github.com/go-voting-app/voting-app/platform/ballot"
)

// errVerify is the error of a run whose tally did not match; the report says how.
var errVerify = errors.New("verification failed")

// run is the whole program; main and the tests call it. It returns an error (and main exits
// non-zero) when the flags are wrong, the target is refused or does not answer, the run was
// interrupted, or the tally does not match.
func run(ctx context.Context, args []string, _ func(string) string, stdout, stderr io.Writer) error {
	cfg, err := parseFlags(args[1:], stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}

	resolve := func(ctx context.Context, host string) ([]netip.Addr, error) {
		return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	}
	if _, err := target.Check(ctx, cfg.target, resolve); err != nil {
		return fmt.Errorf("-target: %w", err)
	}
	if cfg.verifyURL != "" {
		if _, err := target.Check(ctx, cfg.verifyURL, resolve); err != nil {
			return fmt.Errorf("-verify-url: %w", err)
		}
	}

	client := newClient(cfg.concurrency, cfg.timeout)
	defer client.CloseIdleConnections()
	box, err := newBallotBox(client, cfg.target, cfg.api, cfg.timeout)
	if err != nil {
		return fmt.Errorf("-target: %w", err)
	}
	// Waiting and verifying use their own client, so they never queue behind the load's
	// connections.
	probe := newClient(2, cfg.timeout)
	defer probe.CloseIdleConnections()
	page, err := url.JoinPath(cfg.target, "/")
	if err != nil {
		return fmt.Errorf("-target: %w", err)
	}
	if cfg.wait {
		if err := waitFor(ctx, cfg.waitTimeout, "the target", func(ctx context.Context) error {
			return getOK(ctx, probe, page)
		}); err != nil {
			return err
		}
	}
	var baseline map[string]int64
	if cfg.verifyURL != "" {
		read := func(ctx context.Context) (err error) {
			baseline, err = fetchTally(ctx, probe, cfg.verifyURL)
			return err
		}
		if cfg.wait {
			err = waitFor(ctx, cfg.waitTimeout, "-verify-url", read)
		} else {
			err = read(ctx)
		}
		if err != nil {
			return fmt.Errorf("reading the tally before the run: %w", err)
		}
	}

	p, err := plan.New(cfg.plan)
	if err != nil {
		return err // validated with the flags already
	}
	var ids func(int) string
	if cfg.ids == idsClient {
		ids = func(int) string { return string(ballot.NewVoterID()) }
	}
	book := ledger.New([]string{ballot.KeyA, ballot.KeyB}, cfg.plan.Voters, ids)
	l := &load{
		box: box, plan: p, ledger: book,
		concurrency: cfg.concurrency, rate: cfg.rate, duration: cfg.duration,
		progress: cfg.progress, stderr: stderr, hist: latency.New(),
	}
	elapsed := l.run(ctx)

	e := book.Expectation()
	rep := newReport(cfg, l, elapsed, e)
	rep.Interrupted = ctx.Err() != nil
	if cfg.expectPath != "" {
		if err := writeExpectation(cfg.expectPath, e); err != nil {
			return err
		}
	}
	if cfg.verifyURL != "" && !rep.Interrupted {
		v := verify(ctx, probe, cfg.verifyURL, baseline, e, cfg.verifyTimeout, cfg.verifySettle)
		rep.Verify = &v
		rep.Interrupted = ctx.Err() != nil // a verdict cut short is no verdict
	}
	if cfg.json {
		if err := rep.writeJSON(stdout); err != nil {
			return err
		}
	} else {
		rep.writeText(stdout)
	}
	switch {
	case rep.Interrupted:
		return errors.New("interrupted: the report covers the votes sent until then")
	case rep.Verify != nil && !rep.Verify.OK:
		return fmt.Errorf("%w: %s", errVerify, strings.Join(rep.Verify.Problems, "; "))
	}
	return nil
}

func newReport(cfg config, l *load, elapsed time.Duration, e ledger.Expectation) *report {
	s := &l.stats
	secs := elapsed.Seconds()
	r := &report{
		Target: cfg.target, API: cfg.api, IDs: cfg.ids, Loop: "closed", Concurrency: cfg.concurrency,
		Seed: cfg.plan.Seed, Voters: cfg.plan.Voters, Planned: cfg.plan.Votes,
		Seconds:  secs,
		Sent:     s.sent.Load(),
		Accepted: s.accepted.Load(),
		Rejected: s.rejected.Load(),
		Unknown:  s.unknown.Load(),

		FirstVotes: s.firsts.Load(),
		Changes:    s.changes.Load(),
		ByOption:   map[string]int64{ballot.KeyA: s.forA.Load(), ballot.KeyB: s.forB.Load()},
		Errors:     s.errors(),
		Expected:   expected{Counts: e.Counts, Bounds: e.Bounds, Total: e.Total, Exact: e.Exact},
	}
	if r.Errors == nil {
		r.Errors = map[string]int64{}
	}
	if cfg.rate > 0 {
		r.Loop, r.Rate = "open", cfg.rate
	}
	if secs > 0 {
		r.Throughput = float64(r.Sent) / secs
		r.AcceptedPerSecond = float64(r.Accepted) / secs
	}
	r.Latency = newLatencyReport(l.hist.Summary(), cfg.rate > 0, s.maxLagDuration())
	return r
}

// writeExpectation writes the expected tally, with every voter's last accepted vote, as JSON.
func writeExpectation(path string, e ledger.Expectation) error {
	b, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return fmt.Errorf("-expect: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("-expect: %w", err)
	}
	return nil
}
