package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"strings"
	"time"

	"github.com/go-voting-app/voting-app/platform/backoff"

	"github.com/go-voting-app/voting-app/loadgen/internal/ledger"
)

// pollInterval is how often the target and the tally are asked while waiting for them.
const pollInterval = 250 * time.Millisecond

// waitFor asks url until check accepts an answer, or until timeout passes.
func waitFor(ctx context.Context, timeout time.Duration, what string, check func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		err := check(ctx)
		if err == nil {
			return nil
		}
		if !backoff.Sleep(ctx, pollInterval) {
			return fmt.Errorf("%s did not answer within %s: %w", what, timeout, err)
		}
	}
}

// getOK asks GET url and wants a 2xx.
func getOK(ctx context.Context, client *http.Client, url string) error {
	_, err := get(ctx, client, url)
	return err
}

// get returns the body of a 2xx answer to GET url.
func get(ctx context.Context, client *http.Client, url string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", userAgent())
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return body, nil
}

// fetchTally reads the result service's tally: option key → votes.
func fetchTally(ctx context.Context, client *http.Client, url string) (map[string]int64, error) {
	// The result service's /api/results document; only the counts matter here.
	type results struct {
		Options []struct {
			Key   string `json:"key"`
			Votes int64  `json:"votes"`
		} `json:"options"`
	}
	body, err := get(ctx, client, url)
	if err != nil {
		return nil, err
	}
	var r results
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("GET %s: not a results document: %w", url, err)
	}
	if len(r.Options) == 0 {
		return nil, fmt.Errorf("GET %s: no options in the results document", url)
	}
	tally := make(map[string]int64, len(r.Options))
	for _, o := range r.Options {
		tally[o.Key] = o.Votes
	}
	return tally, nil
}

// verification is what the check of the result service found.
type verification struct {
	URL      string           `json:"url"`
	OK       bool             `json:"ok"`
	Exact    bool             `json:"exact"`
	Checked  string           `json:"checked"` // which condition was checked, in words
	Baseline map[string]int64 `json:"baseline"`
	Tally    map[string]int64 `json:"tally"` // the last tally read, baseline included
	// Problems are the counts outside their bounds in the last tally read, or why it could not
	// be read.
	Problems []string `json:"problems,omitempty"`
	Seconds  float64  `json:"seconds"` // from the end of the load to the verdict
}

// verify reads the tally until the run's votes show in it as expected, or until timeout passes.
// The run's votes are the tally less the baseline read before the run: the run's voters are new,
// so their votes only add. With unknown outcomes the counts must also hold still for settle,
// since a tally still being counted can pass through the bounds before it reaches its end.
func verify(ctx context.Context, client *http.Client, url string, baseline map[string]int64, e ledger.Expectation, timeout, settle time.Duration) verification {
	v := verification{URL: url, Exact: e.Exact, Baseline: baseline, Checked: describeCheck(e, settle)}
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var stableSince time.Time
	var last map[string]int64
	for {
		tally, err := fetchTally(ctx, client, url)
		switch {
		case err != nil:
			v.Problems = []string{err.Error()}
			last = nil
		default:
			v.Tally = tally
			v.Problems = e.Check(subtract(tally, baseline))
			if !maps.Equal(tally, last) {
				stableSince = time.Now()
				last = tally
			}
			if len(v.Problems) == 0 && (e.Exact || time.Since(stableSince) >= settle) {
				v.OK = true
				v.Seconds = time.Since(start).Seconds()
				return v
			}
		}
		if !backoff.Sleep(ctx, pollInterval) {
			v.Seconds = time.Since(start).Seconds()
			if len(v.Problems) == 0 {
				v.Problems = []string{fmt.Sprintf("the tally was within the bounds but did not hold still for %s", settle)}
			}
			return v
		}
	}
}

func describeCheck(e ledger.Expectation, settle time.Duration) string {
	if e.Exact {
		return "every option's count and the total equal the expected counts exactly (no vote had an unknown outcome)"
	}
	var allowed []string
	for _, key := range e.Options {
		allowed = append(allowed, fmt.Sprintf("%s %s", key, e.Bounds[key]))
	}
	return fmt.Sprintf("every option's count and the total lie between the votes certainly applied and those possibly "+
		"applied (%s, total %s; votes with unknown outcomes make the ranges), unchanged for %s",
		strings.Join(allowed, ", "), e.Total, settle)
}

// subtract returns a − b per key.
func subtract(a, b map[string]int64) map[string]int64 {
	out := maps.Clone(a)
	for k, n := range b {
		out[k] -= n
	}
	return out
}
