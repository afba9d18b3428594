package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-voting-app/voting-app/loadgen/internal/ledger"
)

// runLoad runs the program as main does, with -json, and returns its report and error.
func runLoad(t *testing.T, ctx context.Context, args ...string) (*report, error) {
	t.Helper()
	var out bytes.Buffer
	err := run(ctx, append([]string{"loadgen", "-json", "-progress", "0"}, args...), noEnv, &out, io.Discard)
	if out.Len() == 0 {
		return nil, err
	}
	var r report
	if jerr := json.Unmarshal(out.Bytes(), &r); jerr != nil {
		t.Fatalf("report is not JSON: %v\n%s", jerr, out.String())
	}
	return &r, err
}

func noEnv(string) string { return "" }

func readExpectation(t *testing.T, path string) ledger.Expectation {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var e ledger.Expectation
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("expect file: %v", err)
	}
	return e
}

// Every vote accepted: the counts are the plan's, the expectation is exact and equals, voter by
// voter, what the service applied, and the verification passes.
func TestRunExact(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"form votes, ids made here", []string{"-api", "form", "-ids", "client"}},
		{"API votes, ids from the service", []string{"-api", "json", "-ids", "server"}},
		{"open loop", []string{"-rate", "5000"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStandIn(t)
			expect := filepath.Join(t.TempDir(), "expect.json")
			args := append([]string{
				"-target", s.srv.URL, "-voters", "200", "-votes", "2000", "-change", "0.3", "-split", "0.6",
				"-concurrency", "16", "-seed", "7", "-expect", expect, "-verify-url", s.srv.URL + "/api/results",
			}, tt.args...)
			r, err := runLoad(t, context.Background(), args...)
			if err != nil {
				t.Fatalf("run: %v", err)
			}
			if r.Sent != 2000 || r.Accepted != 2000 || r.Rejected != 0 || r.Unknown != 0 || len(r.Errors) != 0 {
				t.Fatalf("sent %d: %d accepted, %d rejected, %d unknown, errors %v", r.Sent, r.Accepted, r.Rejected, r.Unknown, r.Errors)
			}
			if r.FirstVotes != 200 || r.Changes != 1800 {
				t.Fatalf("%d first votes and %d changes, want 200 and 1800", r.FirstVotes, r.Changes)
			}
			if r.ByOption["a"]+r.ByOption["b"] != 2000 || r.Latency.Count != 2000 || r.Latency.P50 <= 0 || r.Latency.Max < r.Latency.P999 {
				t.Fatalf("by option %v, latency %+v", r.ByOption, r.Latency)
			}
			e := readExpectation(t, expect)
			if !e.Exact || !maps.Equal(e.Voters, s.applied()) || len(e.Voters) != 200 {
				t.Fatalf("expectation (exact %v, %d voters) differs from the %d votes applied", e.Exact, len(e.Voters), len(s.applied()))
			}
			if tally := s.tally(); tally["a"] != e.Counts["a"] || tally["b"] != e.Counts["b"] || e.Total.Min != 200 {
				t.Fatalf("expected counts %v total %v, applied %v", e.Counts, e.Total, tally)
			}
			if v := r.Verify; v == nil || !v.OK || !v.Exact || !strings.Contains(v.Checked, "exactly") {
				t.Fatalf("verification %+v", r.Verify)
			}
		})
	}
}

// A service that answers "accepted" but loses votes fails the verification.
func TestRunMismatch(t *testing.T) {
	s := newStandIn(t)
	s.loseEvery = 10
	r, err := runLoad(t, context.Background(), "-target", s.srv.URL, "-voters", "300", "-votes", "1000",
		"-seed", "3", "-verify-url", s.srv.URL+"/api/results", "-verify-timeout", "1s")
	if !errors.Is(err, errVerify) {
		t.Fatalf("run returned %v, want a verification failure", err)
	}
	if r == nil || r.Verify == nil || r.Verify.OK || len(r.Verify.Problems) == 0 || r.Accepted != 1000 {
		t.Fatalf("report %+v", r)
	}
}

// Votes that failed with 503 or timed out may or may not have been applied: the expectation turns
// into ranges that hold the tally, and the verification checks those.
func TestRunUnknownOutcomes(t *testing.T) {
	for _, ids := range []string{idsClient, idsServer} {
		t.Run(ids, func(t *testing.T) {
			s := newStandIn(t)
			s.failEvery = 7
			s.hangEvery = 101
			expect := filepath.Join(t.TempDir(), "expect.json")
			r, err := runLoad(t, context.Background(), "-target", s.srv.URL, "-ids", ids,
				"-voters", "300", "-votes", "1500", "-seed", "11", "-timeout", "250ms", "-expect", expect,
				"-verify-url", s.srv.URL+"/api/results", "-verify-settle", "100ms")
			if err != nil {
				t.Fatalf("run: %v", err)
			}
			unknown := r.Errors["http_503"] + r.Errors["timeout"]
			if r.Unknown == 0 || r.Unknown != unknown || r.Errors["http_503"] == 0 || r.Errors["timeout"] == 0 {
				t.Fatalf("%d unknown outcomes, errors %v", r.Unknown, r.Errors)
			}
			if r.Latency.Count != r.Sent-r.Errors["timeout"] {
				t.Fatalf("latency of %d votes, want every vote that got a response: %d", r.Latency.Count, r.Sent-r.Errors["timeout"])
			}
			e := readExpectation(t, expect)
			if e.Exact || len(e.Uncertain)+len(e.Unnamed) == 0 {
				t.Fatalf("an expectation with unknown outcomes: exact %v, %d uncertain voters", e.Exact, len(e.Uncertain))
			}
			if bad := e.Check(s.tally()); len(bad) != 0 {
				t.Fatalf("the applied tally is outside the expected ranges: %v", bad)
			}
			// Every voter the run knows for certain ended where the ledger says.
			applied := s.applied()
			for id, want := range e.Voters {
				if _, uncertain := e.Uncertain[id]; !uncertain && applied[id] != want {
					t.Fatalf("voter %s: applied %q, expected %q", id[:8], applied[id], want)
				}
			}
			if v := r.Verify; v == nil || !v.OK || v.Exact || !strings.Contains(v.Checked, "between") {
				t.Fatalf("verification %+v", r.Verify)
			}
		})
	}
}

// The open loop stops sending at the deadline and never sends more than the schedule allows.
func TestRunOpenLoopDuration(t *testing.T) {
	s := newStandIn(t)
	r, err := runLoad(t, context.Background(), "-target", s.srv.URL, "-votes", "0", "-duration", "300ms", "-rate", "1000")
	if err != nil {
		t.Fatal(err)
	}
	if r.Loop != "open" || r.Latency.From != "schedule" || r.Sent == 0 || r.Sent > 300 {
		t.Fatalf("open loop for 300ms at 1000/s: loop %s, latency from %s, %d sent", r.Loop, r.Latency.From, r.Sent)
	}
}

// With nothing listening, every vote is rejected (never sent) and the expectation is exact.
func TestRunConnectionRefused(t *testing.T) {
	s := newStandIn(t)
	url := s.srv.URL
	s.srv.Close()
	r, err := runLoad(t, context.Background(), "-target", url, "-voters", "10", "-votes", "50", "-concurrency", "4")
	if err != nil {
		t.Fatal(err)
	}
	if r.Rejected != 50 || r.Errors["connection_refused"] != 50 || !r.Expected.Exact || r.Expected.Total.Max != 0 {
		t.Fatalf("rejected %d, errors %v, expected %+v", r.Rejected, r.Errors, r.Expected)
	}
}

func TestRunWait(t *testing.T) {
	s := newStandIn(t)
	s.notReadyGets = 3
	if _, err := runLoad(t, context.Background(), "-target", s.srv.URL, "-votes", "10", "-wait", "-wait-timeout", "30s"); err != nil {
		t.Fatal(err)
	}
	if _, gets := s.requests(); gets != 4 {
		t.Fatalf("%d GET / before the load, want 3 refused and 1 answered", gets)
	}

	s.mu.Lock()
	s.notReadyGets = 1 << 30
	s.mu.Unlock()
	_, err := runLoad(t, context.Background(), "-target", s.srv.URL, "-votes", "10", "-wait", "-wait-timeout", "600ms")
	if err == nil || !strings.Contains(err.Error(), "did not answer") {
		t.Fatalf("a target that never gets ready: %v", err)
	}
	if posts, _ := s.requests(); posts != 10 {
		t.Fatalf("%d votes, want only the 10 of the first run", posts)
	}
}

func TestRunInterrupted(t *testing.T) {
	s := newStandIn(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s.onPost = func(n int) {
		if n == 100 {
			cancel()
		}
	}
	r, err := runLoad(t, ctx, "-target", s.srv.URL, "-votes", "0", "-duration", "1h", "-verify-url", s.srv.URL+"/api/results")
	if err == nil || !strings.Contains(err.Error(), "interrupted") {
		t.Fatalf("run returned %v, want interrupted", err)
	}
	if !r.Interrupted || r.Verify != nil || r.Sent < 100 || r.Sent != r.Accepted {
		t.Fatalf("report after an interruption: interrupted %v, verify %v, %d sent, %d accepted", r.Interrupted, r.Verify, r.Sent, r.Accepted)
	}
}

func TestRunRefusesTargets(t *testing.T) {
	s := newStandIn(t)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-target", "http://8.8.8.8:8080"}, "not a loopback or private address"},
		{[]string{"-target", "http://[2001:db8::1]/"}, "not a loopback or private address"},
		{[]string{"-target", s.srv.URL, "-verify-url", "http://1.1.1.1/api/results"}, "-verify-url"},
		{[]string{"-target", "vote:8080"}, "not an http"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			_, err := runLoad(t, context.Background(), tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("run returned %v, want an error with %q", err, tt.want)
			}
		})
	}
	if posts, _ := s.requests(); posts != 0 {
		t.Fatalf("%d votes reached the stand-in", posts)
	}
}

func TestRunFlags(t *testing.T) {
	tests := []struct {
		args []string
		want string // in the error; "" for none
	}{
		{[]string{"-help"}, ""},
		{[]string{"-api", "xml"}, "-api"},
		{[]string{"-ids", "guess"}, "-ids"},
		{[]string{"-votes", "0"}, "nothing ends the run"},
		{[]string{"-voters", "20000000"}, "-voters"},
		{[]string{"-split", "2"}, "split"},
		{[]string{"-change", "1"}, "change"},
		{[]string{"-concurrency", "0"}, "-concurrency"},
		{[]string{"-timeout", "0s"}, "-timeout"},
		{[]string{"-rate", "-1"}, "-rate"},
		{[]string{"extra"}, "unexpected argument"},
		{[]string{"-nope"}, "not defined"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var stderr bytes.Buffer
			err := run(context.Background(), append([]string{"loadgen"}, tt.args...), noEnv, io.Discard, &stderr)
			if tt.want == "" {
				if err != nil || !strings.Contains(stderr.String(), "loopback") {
					t.Fatalf("run %v: %v\n%s", tt.args, err, stderr.String())
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("run %v returned %q, want one line with %q", tt.args, err, tt.want)
			}
		})
	}
}

// The text report, as people read it.
func TestRunText(t *testing.T) {
	s := newStandIn(t)
	var out bytes.Buffer
	err := run(context.Background(), []string{"loadgen", "-target", s.srv.URL, "-votes", "300", "-voters", "50",
		"-progress", "0", "-verify-url", s.srv.URL + "/api/results"}, noEnv, &out, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"300 sent in", "300 accepted, 0 rejected, 0 unknown outcome", "50 first votes, 250 changes",
		"p50 ", "p99.9 ", "errors    none", "(exact)", "verify    ok after", "checked: every option's count",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}
