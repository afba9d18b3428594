package e2e

import (
	"bytes"
	"context"
	"fmt"
	"html"
	"image/png"
	"io"
	"maps"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5"

	"github.com/go-voting-app/voting-app/testkit"
)

// TestResultChart checks the result page's live chart and lead in a real browser: after a burst of
// votes from many voters, the chart's columns hold exactly the votes per 10-second interval the
// database's history holds (counted here, not read from the rollup the chart is drawn from), the lead is said in words, the same numbers are on the page the server
// renders for a browser without JavaScript, and screenshots of the page (desktop and phone width)
// are written to out/ for a person to look at.
func TestResultChart(t *testing.T) {
	chromium := findChromium(t)
	bin := buildServices(t, "vote", "worker", "result")
	dbURL := testkit.Postgres(t)
	redisURL, prefix := testkit.Redis(t)
	stream := prefix + "votes"
	const labelA, labelB = "Tea", "Coffee"

	startProcess(t, "worker", filepath.Join(bin, "worker"), map[string]string{
		"OPS_ADDR": "127.0.0.1:0", "DATABASE_URL": dbURL, "REDIS_URL": redisURL, "VOTE_STREAM": stream,
		"BATCH_WAIT": "100ms",
	})
	voteSrv := startProcess(t, "vote", filepath.Join(bin, "vote"), map[string]string{
		"HTTP_ADDR": "127.0.0.1:0", "OPS_ADDR": "127.0.0.1:0", "REDIS_URL": redisURL, "VOTE_STREAM": stream,
		"OPTION_A": labelA, "OPTION_B": labelB, "VOTE_RATE_LIMIT": "0",
	})
	resultSrv := startProcess(t, "result", filepath.Join(bin, "result"), map[string]string{
		"HTTP_ADDR": "127.0.0.1:0", "OPS_ADDR": "127.0.0.1:0", "DATABASE_URL": dbURL,
		"TALLY_MIN_INTERVAL": "20ms", "OPTION_A": labelA, "OPTION_B": labelB,
	})

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	tab := startBrowser(t, ctx, chromium)
	openPage(t, tab, resultSrv.HTTP+"/")
	resultSrv.waitMetric(t, "result_sse_clients", 1)

	// A burst: 240 voters, 3 to 2 for Tea, some changing their minds, spread over a few seconds.
	const voters = 240
	total := castBurst(t, voteSrv.HTTP, voters)
	testkit.Until(t, 30*time.Second, "the page to show every voter", func() error {
		got, err := chromedp.Run(tab, chromedp.Evaluate[string](`document.querySelector('[data-field="summary"]').textContent`))
		if err != nil || got != fmt.Sprintf("%d votes", voters) {
			return fmt.Errorf("summary %q, %v", got, err)
		}
		return nil
	})

	// The chart against the rollup, column by column, once they agree in total (the page redraws
	// from each event, and one may still be on its way).
	db := openDB(t, dbURL)
	testkit.Until(t, 20*time.Second, "the chart to show the rollup", func() error {
		shown, err := chartColumns(tab)
		if err != nil {
			return err
		}
		stored := rollup(t, db)
		var sum int64
		for start, votes := range shown {
			if !maps.Equal(nonZeroVotes(votes), stored[start]) {
				return fmt.Errorf("interval %s: chart %v, database %v", start, votes, stored[start])
			}
			sum += votes["a"] + votes["b"]
		}
		if sum != total {
			return fmt.Errorf("the chart shows %d votes, %d were cast", sum, total)
		}
		for start := range stored {
			if _, ok := shown[start]; !ok {
				return fmt.Errorf("interval %s is in the database but not on the chart", start)
			}
		}
		return nil
	})

	lead, err := chromedp.Run(tab, chromedp.Evaluate[string](`document.querySelector('[data-field="lead"]').textContent`))
	if err != nil || !regexp.MustCompile(`^(Too close to call\. )?Lead: (Tea|Coffee), by [0-9.]+ points over (Tea|Coffee) \(95% interval `).MatchString(lead) {
		t.Errorf("lead %q (%v)", lead, err)
	}

	// Without JavaScript: the page as the server renders it has the same lead and the same chart.
	page := httpGet(t, resultSrv.HTTP+"/")
	if !strings.Contains(page, `data-field="lead">`+html.EscapeString(lead)+`<`) {
		t.Errorf("the server-rendered page lacks the lead %q", lead)
	}
	stored := rollup(t, db)
	for start, votes := range stored {
		col := fmt.Sprintf(`<g data-start="%s" data-a="%d" data-b="%d">`, start, votes["a"], votes["b"])
		if !strings.Contains(page, col) {
			t.Errorf("the server-rendered chart lacks %s", col)
		}
	}

	for _, shot := range []struct {
		name          string
		width, height int64
	}{{"result-page.png", 1280, 900}, {"result-page-phone.png", 390, 844}} {
		screenshot(t, tab, shot.name, shot.width, shot.height)
	}
}

// castBurst casts votes for voters new voters through the vote service's JSON API, 3 to 2 for the
// first option, a fifth of them changing their mind afterwards; it returns the votes cast.
func castBurst(t *testing.T, voteURL string, voters int) int64 {
	t.Helper()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		cast  int64
		first error
	)
	sem := make(chan struct{}, 16)
	for i := range voters {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			jar, _ := cookiejar.New(nil)
			c := &http.Client{Jar: jar, Timeout: 10 * time.Second}
			choices := []string{[]string{"a", "b", "a", "b", "a"}[i%5]}
			if i%5 == 0 {
				choices = append(choices, "b")
			}
			for _, choice := range choices {
				res, err := c.Post(voteURL+"/api/v1/votes", "application/json", strings.NewReader(`{"vote":"`+choice+`"}`))
				if err == nil {
					io.Copy(io.Discard, res.Body)
					res.Body.Close()
					if res.StatusCode != http.StatusAccepted {
						err = fmt.Errorf("vote: %s", res.Status)
					}
				}
				mu.Lock()
				if err != nil && first == nil {
					first = err
				} else if err == nil {
					cast++
				}
				mu.Unlock()
				time.Sleep(time.Duration(i%7) * 10 * time.Millisecond)
			}
		})
	}
	wg.Wait()
	if first != nil {
		t.Fatal(first)
	}
	return cast
}

// chartColumns reads the chart's columns with votes: interval start → votes by option.
func chartColumns(tab context.Context) (map[string]map[string]int64, error) {
	type column struct {
		Start string
		A, B  int64
	}
	cols, err := chromedp.Run(tab, chromedp.Evaluate[[]column](`Array.from(
		document.querySelectorAll('#chart g[data-start]'),
		(g) => ({Start: g.dataset.start, A: Number(g.dataset.a), B: Number(g.dataset.b)}))`))
	if err != nil {
		return nil, err
	}
	if len(cols) != 30 {
		return nil, fmt.Errorf("the chart has %d columns, want 30 (5 minutes of 10 s)", len(cols))
	}
	out := map[string]map[string]int64{}
	for _, c := range cols {
		if c.A+c.B > 0 {
			out[c.Start] = map[string]int64{"a": c.A, "b": c.B}
		}
	}
	return out, nil
}

func nonZeroVotes(m map[string]int64) map[string]int64 {
	out := map[string]int64{}
	for k, v := range m {
		if v != 0 {
			out[k] = v
		}
	}
	return out
}

func openDB(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// rollup counts the stored history per 10-second interval of cast time: interval start (RFC 3339,
// UTC) → votes by option. It reads vote_history itself, not the rollup the chart is drawn from.
func rollup(t *testing.T, db *pgx.Conn) map[string]map[string]int64 {
	t.Helper()
	rows, err := db.Query(t.Context(), `SELECT to_timestamp(floor(extract(epoch FROM cast_at) / 10) * 10), vote, count(*)
		FROM vote_history GROUP BY 1, 2`)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]int64{}
	var (
		at    time.Time
		key   string
		votes int64
	)
	_, err = pgx.ForEachRow(rows, []any{&at, &key, &votes}, func() error {
		start := at.UTC().Format(time.RFC3339)
		if out[start] == nil {
			out[start] = map[string]int64{}
		}
		out[start][key] = votes
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return string(b)
}

// screenshot captures the tab at a width and height into out/name, and checks it is a picture.
func screenshot(t *testing.T, tab context.Context, name string, width, height int64) {
	t.Helper()
	opts := []chromedp.EmulateViewportOption{}
	if width < 600 {
		opts = append(opts, chromedp.EmulateMobile)
	}
	var shot []byte
	_, err := chromedp.Run(tab, chromedp.EmulateViewport(width, height, opts...))
	if err == nil {
		time.Sleep(300 * time.Millisecond)                          // the layout settles at the new width
		shot, err = chromedp.Run(tab, chromedp.FullScreenshot(100)) // quality 100: PNG
	}
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil || img.Bounds().Dx() < int(width)/2 {
		t.Fatalf("screenshot %s is not a picture of the page: %v", name, err)
	}
	out := filepath.Join("..", "out", name)
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: out/%s (%dx%d)", name, img.Bounds().Dx(), img.Bounds().Dy())
}
