package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/go-voting-app/voting-app/testkit"
)

// TestBrowser checks what a person sees: the result page, open in a real browser, follows votes
// cast through the vote page's form without being reloaded, and says when it has lost the server
// and when it is back. The vote, worker and result programs run as built, configured by their
// environment, against real PostgreSQL and Redis servers.
func TestBrowser(t *testing.T) {
	chromium := findChromium(t)
	bin := buildServices(t, "vote", "worker", "result")

	dbURL := testkit.Postgres(t)
	redisURL, prefix := testkit.Redis(t)
	stream := prefix + "votes"
	// Labels other than the defaults, so the test sees them travel from the environment to the page.
	const labelA, labelB = "Tea", "Coffee"

	// The worker creates the schema, which the result service needs to become ready.
	startProcess(t, "worker", filepath.Join(bin, "worker"), map[string]string{
		"OPS_ADDR":     "127.0.0.1:0",
		"DATABASE_URL": dbURL,
		"REDIS_URL":    redisURL,
		"VOTE_STREAM":  stream,
		"BATCH_WAIT":   "100ms", // a read blocks this long; short, so the worker stops quickly
	})
	voteSrv := startProcess(t, "vote", filepath.Join(bin, "vote"), map[string]string{
		"HTTP_ADDR":   "127.0.0.1:0",
		"OPS_ADDR":    "127.0.0.1:0",
		"REDIS_URL":   redisURL,
		"VOTE_STREAM": stream,
		"OPTION_A":    labelA,
		"OPTION_B":    labelB,
	})
	resultEnv := map[string]string{
		"HTTP_ADDR":          "127.0.0.1:0",
		"OPS_ADDR":           "127.0.0.1:0",
		"DATABASE_URL":       dbURL,
		"TALLY_MIN_INTERVAL": "20ms",
		"OPTION_A":           labelA,
		"OPTION_B":           labelB,
	}
	resultSrv := startProcess(t, "result", filepath.Join(bin, "result"), resultEnv)

	// The bound for everything the browser does; the browser stops with it.
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	resultTab := startBrowser(t, ctx, chromium)
	voteTab := newTab(t, resultTab)

	openPage(t, resultTab, resultSrv.HTTP+"/")
	// Its event stream is open, so what follows reaches the page over it.
	resultSrv.waitMetric(t, "result_sse_clients", 1)
	// A reload would start a new window object without this property.
	if _, err := chromedp.Run(resultTab, chromedp.Evaluate[bool](`window.e2eNotReloaded = true`)); err != nil {
		t.Fatalf("marking the result page: %v", err)
	}
	noVotes := option{Votes: "0 votes", Percent: "0%"}
	oneVote := option{Votes: "1 vote", Percent: "100%"}
	waitResults(t, resultTab, "no votes", resultPage{A: noVotes, B: noVotes, Summary: "No votes yet", NotReloaded: true})

	openPage(t, voteTab, voteSrv.HTTP+"/")
	if got, want := readBallot(t, voteTab), (ballotPage{Title: labelA + " or " + labelB + "?"}); got != want {
		t.Fatalf("a new visitor's ballot shows %+v, want %+v", got, want)
	}

	castVote(t, voteTab, "a", labelA)
	waitResults(t, resultTab, "the first vote", resultPage{A: oneVote, B: noVotes, Summary: "1 vote", NotReloaded: true})

	// The same voter changes their mind: one vote still, now for B.
	castVote(t, voteTab, "b", labelB)
	waitResults(t, resultTab, "the changed vote", resultPage{A: noVotes, B: oneVote, Summary: "1 vote", NotReloaded: true})

	// The result service goes away: the page keeps the numbers and says it is reconnecting.
	resultSrv.stop(t)
	waitResults(t, resultTab, "the lost stream", resultPage{
		A: noVotes, B: oneVote, Summary: "1 vote", Status: "Reconnecting…", StatusShown: true, NotReloaded: true,
	})

	// A new instance on the same address, as after a restart: the page finds it by itself.
	resultEnv["HTTP_ADDR"] = strings.TrimPrefix(resultSrv.HTTP, "http://")
	resultSrv = startProcess(t, "result (restarted)", filepath.Join(bin, "result"), resultEnv)
	waitResults(t, resultTab, "the stream back", resultPage{A: noVotes, B: oneVote, Summary: "1 vote", NotReloaded: true})
	resultSrv.waitMetric(t, "result_sse_clients", 1)
	castVote(t, voteTab, "a", labelA)
	waitResults(t, resultTab, "a vote after the restart", resultPage{A: oneVote, B: noVotes, Summary: "1 vote", NotReloaded: true})
}

// findChromium returns the browser to drive. A missing browser fails the test, since the
// requirement it checks would otherwise go unchecked without anyone noticing.
func findChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	t.Fatal("no chromium or chromium-browser on PATH: install chromium (Debian: apt-get install chromium)")
	return ""
}

// startBrowser starts a headless Chromium that lives until ctx ends or the test does, and returns
// the context of its first tab. Its output and chromedp's messages are printed if the test fails.
func startBrowser(t *testing.T, ctx context.Context, execPath string) context.Context {
	t.Helper()
	output := &testkit.Logs{}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(execPath),
		chromedp.CombinedOutput(output),
	)
	// Chromium's sandbox cannot start as root, and CI runs the tests as root. Without it the
	// browser only ever loads this test's own pages from loopback servers; as any other user the
	// sandbox stays on.
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox)
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	logf := func(format string, args ...any) { fmt.Fprintf(output, format+"\n", args...) }
	tab, cancelTab := chromedp.NewContext(allocCtx, chromedp.WithLogf(logf), chromedp.WithErrorf(logf))
	t.Cleanup(func() {
		cancelTab() // waits until the browser has exited
		cancelAlloc()
		if t.Failed() {
			t.Logf("chromium output:\n%s", output)
		}
	})
	// The first action on the tab starts the browser; like the tab (see newTab), the browser lives
	// as long as the context of that action.
	if err := chromedp.Do(tab); err != nil {
		t.Fatalf("start %s: %v\n%s", execPath, err, output)
	}
	return tab
}

// newTab opens another tab in the browser of tab, closed when the test ends.
func newTab(t *testing.T, tab context.Context) context.Context {
	t.Helper()
	next, closeTab := chromedp.NewContext(tab)
	t.Cleanup(closeTab)
	// The first action on a tab opens it, and the tab lives as long as the context of that action:
	// so it runs here, on the tab's own context, and not in a step with a timeout of its own.
	if err := chromedp.Do(next); err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	return next
}

// openPage loads url in the tab and expects a 200.
func openPage(t *testing.T, tab context.Context, url string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, 20*time.Second)
	defer cancel()
	res, err := chromedp.Run(ctx, chromedp.NavigateResponse(url))
	if err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	if res.Status != 200 {
		t.Fatalf("open %s: status %d %s", url, res.Status, res.StatusText)
	}
}

// ballotPage is what the vote page shows of the visitor's vote.
type ballotPage struct {
	Title     string
	Choice    string // "You voted for Tea", or "" before a first vote
	Pressed   string // labels of the buttons marked aria-pressed, comma separated
	Redirects int    // redirects the browser followed to load the page
}

const readBallotJS = `(() => {
	const choice = document.querySelector(".choice");
	return {
		Title: document.querySelector("h1").textContent,
		Choice: choice ? choice.textContent : "",
		Pressed: Array.from(document.querySelectorAll('button[aria-pressed="true"]'), (b) => b.textContent).join(","),
		Redirects: performance.getEntriesByType("navigation")[0].redirectCount,
	};
})()`

func readBallot(t *testing.T, tab context.Context) ballotPage {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, 20*time.Second)
	defer cancel()
	b, err := chromedp.Run(ctx, chromedp.Evaluate[ballotPage](readBallotJS))
	if err != nil {
		t.Fatalf("reading the ballot: %v", err)
	}
	return b
}

// castVote clicks the option's button on the ballot in the tab. The browser submits the form and
// follows the 303 to the ballot, which then names the choice.
func castVote(t *testing.T, tab context.Context, key, label string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, 20*time.Second)
	defer cancel()
	before := readBallot(t, tab)
	res, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS("button.option-"+key)))
	if err != nil {
		t.Fatalf("voting for %s: %v", label, err)
	}
	if res.Status != 200 {
		t.Fatalf("voting for %s: the page after the form has status %d %s", label, res.Status, res.StatusText)
	}
	want := ballotPage{Title: before.Title, Choice: "You voted for " + label, Pressed: label, Redirects: 1}
	if got := readBallot(t, tab); got != want {
		t.Fatalf("after voting for %s the ballot shows %+v, want %+v", label, got, want)
	}
}

// resultPage is what the result page shows, read by the ids and data attributes its script updates
// the page by.
type resultPage struct {
	A, B        option
	Summary     string // "No votes yet", "1 vote", …
	Status      string // "Reconnecting…" while the event stream is down
	StatusShown bool
	NotReloaded bool // the page is the same document the test marked
}

type option struct {
	Votes   string // "1 vote"
	Percent string // "100%"
}

const readResultsJS = `(() => {
	const root = document.getElementById("results");
	const field = (scope, name) => scope.querySelector('[data-field="' + name + '"]').textContent;
	const option = (key) => {
		const item = root.querySelector('[data-key="' + key + '"]');
		return { Votes: field(item, "votes"), Percent: field(item, "percent") };
	};
	const status = document.getElementById("status");
	return {
		A: option("a"),
		B: option("b"),
		Summary: field(root, "summary"),
		Status: status.textContent,
		StatusShown: status.checkVisibility(),
		NotReloaded: window.e2eNotReloaded === true,
	};
})()`

// waitResults polls the result page until it shows want.
func waitResults(t *testing.T, tab context.Context, what string, want resultPage) {
	t.Helper()
	const timeout = 20 * time.Second
	ctx, cancel := context.WithTimeout(tab, timeout)
	defer cancel()
	for {
		got, err := chromedp.Run(ctx, chromedp.Evaluate[resultPage](readResultsJS))
		if err == nil && got == want {
			return
		}
		select {
		case <-ctx.Done():
			if err != nil {
				t.Fatalf("result page, waiting %s for %s: %v", timeout, what, err)
			}
			t.Fatalf("result page, waiting %s for %s:\n got %+v\nwant %+v", timeout, what, got, want)
		case <-time.After(20 * time.Millisecond):
		}
	}
}
