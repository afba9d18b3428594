//go:build e2e && chaos

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-voting-app/voting-app/platform/backoff"
)

// tallyCheck compares, voter by voter, the stored votes with the load tool's ledgers.
type tallyCheck struct {
	Certain   int            // voters whose end is known: their last vote was accepted, nothing unknown came after
	Matched   int            // of those, stored with exactly that vote
	Uncertain int            // voters with votes of unknown outcome that leave more than one possible end
	Ends      map[string]int // how the uncertain ones ended: a, b or none
	Stored    int            // rows in votes
	Problems  []string       // the first few, voter ids shortened
	ProblemsN int
	Counts    map[string]int64 // the ledgers' tally if no vote of unknown outcome was applied
	Got       map[string]int64 // stored, per option
}

// totalsCheck compares the tally in three places: the votes table, the trigger-kept totals and
// the result service's API.
type totalsCheck struct {
	Votes, Totals, API map[string]int64
	APIAfter           time.Duration // until /api/results showed the database's tally
}

func (c *chaos) verify(ctx context.Context) {
	t := c.t
	expect := map[string]string{}
	uncertain := map[string][]string{}
	counts := map[string]int64{}
	for i, seg := range c.segments {
		e := seg.expect
		for id, v := range e.Voters {
			if _, dup := expect[id]; dup {
				t.Fatalf("voter %s is in two runs' ledgers", shortID(id))
			}
			expect[id] = v
		}
		for id, ends := range e.Uncertain {
			if _, dup := uncertain[id]; dup {
				t.Fatalf("voter %s is uncertain in two runs", shortID(id))
			}
			uncertain[id] = ends
		}
		for k, n := range e.Counts {
			counts[k] += n
		}
		t.Logf("run %d: %d voters with an accepted vote, %d uncertain", i+1, len(e.Voters), len(e.Uncertain))
	}

	c.checkPoison(ctx)
	stored := c.storedVotes(ctx)
	c.tally = compareVotes(expect, uncertain, stored)
	c.tally.Counts = counts
	for _, p := range c.tally.Problems {
		t.Errorf("tally: %s", p)
	}
	if c.tally.ProblemsN > len(c.tally.Problems) {
		t.Errorf("tally: … %d problems in all", c.tally.ProblemsN)
	}

	c.totals.Votes = c.tally.Got
	c.totals.Totals = c.sqlCounts(ctx, "SELECT vote, votes FROM vote_totals")
	if !maps.Equal(nonZero(c.totals.Totals), nonZero(c.totals.Votes)) {
		t.Errorf("vote_totals %v, but the votes table counts %v", c.totals.Totals, c.totals.Votes)
	}
	// The result service reads the totals after a notification, at most every 250ms, and again
	// every 10s regardless.
	resultURL := c.s.URL(t, "result", "8081")
	start := time.Now()
	for {
		var tl tally
		getJSON(t, resultURL+"/api/results", &tl)
		c.totals.API = tl.votes()
		if maps.Equal(nonZero(c.totals.API), nonZero(c.totals.Votes)) {
			c.totals.APIAfter = time.Since(start)
			break
		}
		if time.Since(start) > chaosDeadline {
			t.Errorf("result /api/results shows %v after %s, the database %v", c.totals.API, chaosDeadline, c.totals.Votes)
			break
		}
		backoff.Sleep(ctx, 250*time.Millisecond)
	}
}

// compareVotes checks every voter: one the ledgers know for certain must be stored with their
// last accepted vote; an uncertain one with one of their possible ends ("none": not stored); and
// nobody else may be stored at all.
func compareVotes(expect map[string]string, uncertain map[string][]string, stored map[string]string) tallyCheck {
	tc := tallyCheck{Ends: map[string]int{}, Got: map[string]int64{}, Stored: len(stored)}
	problem := func(format string, args ...any) {
		tc.ProblemsN++
		if len(tc.Problems) < 20 {
			tc.Problems = append(tc.Problems, fmt.Sprintf(format, args...))
		}
	}
	for _, v := range stored {
		tc.Got[v]++
	}
	for _, id := range slices.Sorted(maps.Keys(uncertain)) {
		ends := uncertain[id]
		got, ok := stored[id]
		if !ok {
			got = "none"
		}
		tc.Uncertain++
		tc.Ends[got]++
		if !slices.Contains(ends, got) {
			problem("voter %s (uncertain, may end on %v) is stored as %s", shortID(id), ends, got)
		}
	}
	for _, id := range slices.Sorted(maps.Keys(expect)) {
		if _, ok := uncertain[id]; ok {
			continue
		}
		tc.Certain++
		switch got, ok := stored[id]; {
		case !ok:
			problem("voter %s last voted %s (accepted) but has no stored vote", shortID(id), expect[id])
		case got != expect[id]:
			problem("voter %s last voted %s (accepted) but is stored as %s", shortID(id), expect[id], got)
		default:
			tc.Matched++
		}
	}
	for _, id := range slices.Sorted(maps.Keys(stored)) {
		_, known := expect[id]
		_, maybe := uncertain[id]
		if !known && !maybe {
			problem("voter %s is stored as %s but the load tool never had a vote of theirs accepted", shortID(id), stored[id])
		}
	}
	return tc
}

// storedVotes reads every stored vote, as the read-only result role.
func (c *chaos) storedVotes(ctx context.Context) map[string]string {
	out := c.psql(ctx, "SELECT id, vote FROM votes")
	votes := map[string]string{}
	for line := range strings.Lines(out) {
		id, v, ok := strings.Cut(strings.TrimSpace(line), "|")
		if !ok {
			continue
		}
		votes[id] = v
	}
	return votes
}

func (c *chaos) sqlCounts(ctx context.Context, query string) map[string]int64 {
	m := map[string]int64{}
	for line := range strings.Lines(c.psql(ctx, query)) {
		k, v, ok := strings.Cut(strings.TrimSpace(line), "|")
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			c.t.Fatalf("%s: %q", query, line)
		}
		m[k] = n
	}
	return m
}

func (c *chaos) psql(ctx context.Context, query string) string {
	ctx, cancel := context.WithTimeout(ctx, chaosDeadline)
	defer cancel()
	out, err := c.s.compose(ctx, "exec", "-T", "db", "psql", "--no-psqlrc", "--quiet", "--set", "ON_ERROR_STOP=1",
		"--tuples-only", "--no-align", "--field-separator=|", "--username", "result", "--dbname", "votes", "--command", query)
	if err != nil {
		c.t.Fatalf("psql %q: %v\n%s", query, err, out)
	}
	return string(out)
}

func nonZero(m map[string]int64) map[string]int64 {
	out := map[string]int64{}
	for k, v := range m {
		if v != 0 {
			out[k] = v
		}
	}
	return out
}

func shortID(id string) string {
	if len(id) > 8 {
		return id[:8] + "…"
	}
	return id
}

// writeReport writes the markdown report to CHAOS_REPORT and into the test log.
func (c *chaos) writeReport() {
	c.measureRecoveries()
	c.writeSamples()
	var b bytes.Buffer
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	secs := func(d time.Duration) string {
		if d < 0 {
			return "—"
		}
		return fmt.Sprintf("%.1f", d.Seconds())
	}
	status := "passed"
	if c.t.Failed() {
		status = "FAILED"
	}

	w("# Chaos run: %s\n\n", status)
	w("%s, compose project `%s`, %d votes from %d voters at %g votes/s on a fixed schedule (open loop), seed %d "+
		"(`CHAOS_SEED=%d` repeats the fault times and the vote plans). Times are seconds from the start of the load.\n\n",
		time.Now().UTC().Format(time.RFC3339), c.s.project, c.cfg.votes, c.cfg.voters, c.cfg.rate, c.cfg.seed, c.cfg.seed)

	w("## Faults\n\n")
	w("| # | at | fault | target | took | healthy | next vote | caught up | notes |\n")
	w("| --: | --: | --- | --- | --: | --: | --: | --: | --- |\n")
	for i, f := range c.faults {
		note := f.Note
		if f.Err != "" {
			note = "ERROR: " + f.Err
		}
		w("| %d | %s | %s | %s | %s | %s | %s | %s | %s |\n", i+1, secs(f.Start), f.Kind, f.Target,
			secs(f.End-f.Start), secs(f.Recovery.Healthy), secs(f.Recovery.NextVote), secs(f.Recovery.CaughtUp), note)
	}
	w("\nRecovery columns count from the end of the fault's injection, read from the monitor's samples " +
		"(two a second; `out/chaos/samples.tsv`). *healthy*: the service's containers all running and " +
		"healthy again (Docker checks every 5 s, so this is coarse). *next vote*: a vote queued after the fault " +
		"ended has reached a worker. *caught up*: every vote queued before the fault ended has been applied and " +
		"acknowledged (the consumer group has read past that moment and holds nothing older unacknowledged; the " +
		"worker acknowledges only after its transaction committed). Overlapping recoveries are measured each on " +
		"its own.\n\n")

	w("## Load\n\n")
	w("| run | faults in it | from | to | sent | accepted | rejected | unknown | errors | p50 / p99 / max ms | max lag ms |\n")
	w("| --- | --- | --: | --: | --: | --: | --: | --: | --- | --- | --: |\n")
	for _, seg := range c.segments {
		r := seg.report
		if r == nil {
			continue
		}
		w("| %s | %s | %s | %s | %d | %d | %d | %d | %s | %.1f / %.1f / %.0f | %.0f |\n", seg.name, c.faultsIn(seg),
			secs(seg.start), secs(seg.end), r.Sent, r.Accepted, r.Rejected, r.Unknown, kinds(r.Errors),
			r.Latency.P50, r.Latency.P99, r.Latency.Max, r.Latency.MaxLag)
	}
	w("\nWhat each run allows the voters to see:\n\n")
	for _, seg := range c.segments {
		w("- %s: %s.\n", seg.name, seg.rule)
	}
	w("\nRejected votes (connection refused, name not found) were certainly not applied; votes of unknown " +
		"outcome (503, a connection closed after the request was sent) may or may not have been.\n\n")

	w("## Tally\n\n")
	tc := c.tally
	w("- Voters whose last vote is known for certain: %d; stored with exactly that vote: %d.\n", tc.Certain, tc.Matched)
	if tc.Uncertain == 0 {
		w("- Voters left uncertain by votes of unknown outcome: 0, so the comparison is exact.\n")
	} else {
		w("- Voters left uncertain by votes of unknown outcome: %d (each may hold any of its possible ends); they ended as %s.\n",
			tc.Uncertain, kinds(intMap(tc.Ends)))
	}
	w("- Rows in `votes`: %d. Problems: %d.\n", tc.Stored, tc.ProblemsN)
	for _, p := range tc.Problems {
		w("  - %s\n", p)
	}
	w("\n| | a | b | total |\n| --- | --: | --: | --: |\n")
	row := func(name string, m map[string]int64) {
		w("| %s | %d | %d | %d |\n", name, m["a"], m["b"], m["a"]+m["b"])
	}
	row("ledgers (no unknown vote applied)", tc.Counts)
	row("`votes` table", c.totals.Votes)
	row("`vote_totals` (triggers)", c.totals.Totals)
	row("result `/api/results`", c.totals.API)
	w("\n")

	w("## Poison entries\n\n")
	if len(c.poisoned) == 0 {
		w("None were written (the phase did not run).\n\n")
	} else {
		w("Written by Redis's administrator among the load's votes, after a constraint the decoder does not know was "+
			"added to `votes` (`%s`). Each must end on `votes:stream:dead` with the kind below and its reason; the "+
			"votes around them are counted as in every run (the tally above).\n\n", poisonConstraint)
		w("| entry | what | must end as | ended as |\n| --- | --- | --- | --- |\n")
		for _, p := range c.poisoned {
			w("| %s | %s | %s | %s |\n", p.ID, p.What, p.Kind, strings.ReplaceAll(p.Got, "|", "\\|"))
		}
		w("\n")
	}

	w("## Worker readiness\n\n")
	spans := c.notReadySpans()
	var notReady time.Duration
	for _, sp := range spans {
		notReady += sp.to - sp.from
	}
	w("A worker's healthcheck (its `/readyz`, every 5 s) failed in %d stretches, %.1f s in all (from the "+
		"monitor's samples; a stretch seen in one sample counts as 0 s):\n\n", len(spans), notReady.Seconds())
	if len(spans) > 0 {
		w("| from | to | why (the checks that failed) |\n| --: | --: | --- |\n")
		for _, sp := range spans {
			w("| %s | %s | %s |\n", secs(sp.from), secs(sp.to), strings.ReplaceAll(strings.Join(sp.reasons, " / "), "|", "\\|"))
		}
		w("\n")
	}

	w("## Recovery after the load and durations\n\n")
	w("After the last vote every service was running and healthy after %ss, and the stream drained "+
		"(lag 0, nothing pending) after %ss. The result service showed the database's tally %ss after it was read.\n\n",
		secs(c.final.Healthy), secs(c.final.Drained), secs(c.totals.APIAfter))
	w("| step | seconds |\n| --- | --: |\n")
	for _, d := range c.durations {
		w("| %s | %.1f |\n", d.what, d.d.Seconds())
	}

	if err := os.MkdirAll(filepath.Dir(c.cfg.report), 0o755); err != nil {
		c.t.Error(err)
	}
	if err := os.WriteFile(c.cfg.report, b.Bytes(), 0o644); err != nil {
		c.t.Error(err)
	}
	c.t.Logf("report (%s):\n%s", c.cfg.report, b.String())
}

// faultsIn names the faults injected while a run was under way.
func (c *chaos) faultsIn(seg *chaosSegment) string {
	var names []string
	for i, f := range c.faults {
		if f.Start >= seg.start && f.Start < seg.end {
			names = append(names, strconv.Itoa(i+1))
		}
	}
	if len(names) == 0 {
		return "—"
	}
	return strings.Join(names, ", ")
}

func kinds(m map[string]int64) string {
	if len(m) == 0 {
		return "none"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

func intMap(m map[string]int) map[string]int64 {
	out := make(map[string]int64, len(m))
	for k, v := range m {
		out[k] = int64(v)
	}
	return out
}
