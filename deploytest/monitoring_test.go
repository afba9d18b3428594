package deploytest

import (
	"bytes"
	"context"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

// The Prometheus of the compose profile monitoring (deploy/monitoring): its configuration, its rules
// and their unit tests as promtool reads them; that the rules and the dashboard name only metrics
// the services export; that every alert has a test that makes it fire and one that keeps it quiet;
// and that the compose file keeps Prometheus away from Redis and Postgres.

const monitoringDir = "deploy/monitoring"

// promtool returns the path of promtool. A missing one fails the test: the rules would otherwise go
// unchecked without anyone noticing.
func promtool(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not found on PATH: it checks and unit-tests deploy/monitoring. Install it with " +
			"`apt-get install --no-install-recommends prometheus` (Debian; .ci/run does), or put the " +
			"promtool of a Prometheus release (https://prometheus.io/download/) on PATH")
	}
	return path
}

func runPromtool(t *testing.T, dir string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, promtool(t), args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	t.Logf("promtool %s:\n%s", strings.Join(args, " "), bytes.TrimSpace(out))
}

func TestPrometheusConfig(t *testing.T) {
	dir := filepath.Join(repoRoot(t), monitoringDir)
	// Checks the rule files the configuration names too, as Prometheus would load them.
	runPromtool(t, dir, "check", "config", "prometheus.yml")
}

func TestPrometheusRules(t *testing.T) {
	dir := filepath.Join(repoRoot(t), monitoringDir)
	rules, tests := ruleFiles(t, dir), ruleTestFiles(t, dir)
	runPromtool(t, dir, append([]string{"check", "rules"}, rules...)...)
	runPromtool(t, dir, append([]string{"test", "rules"}, tests...)...)
}

func ruleFiles(t *testing.T, dir string) []string {
	t.Helper()
	return globRel(t, dir, "rules/*.rules.yml")
}

func ruleTestFiles(t *testing.T, dir string) []string {
	t.Helper()
	return globRel(t, dir, "tests/*.test.yml")
}

func globRel(t *testing.T, dir, pattern string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, pattern))
	if err != nil || len(files) == 0 {
		t.Fatalf("no %s in %s (%v)", pattern, dir, err)
	}
	for i, f := range files {
		files[i], _ = filepath.Rel(dir, f)
	}
	return files
}

// ruleGroups is a Prometheus rule file.
type ruleGroups struct {
	Groups []struct {
		Name  string
		Rules []struct {
			Record, Alert, Expr string
		}
	}
}

func readRules(t *testing.T, dir string) ruleGroups {
	t.Helper()
	var all ruleGroups
	for _, f := range ruleFiles(t, dir) {
		var g ruleGroups
		readYAML(t, filepath.Join(dir, f), &g)
		all.Groups = append(all.Groups, g.Groups...)
	}
	return all
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// TestMonitoringMetricsExist: every metric a rule or the dashboard queries is one the code
// exports (or a recording rule makes), and every label value it matches is a string in the code,
// so renaming a metric or a reason turns this red instead of leaving an alert that can never fire
// and a dashboard that shows nothing.
func TestMonitoringMetricsExist(t *testing.T) {
	root := repoRoot(t)
	dir := filepath.Join(root, monitoringDir)
	exported := exportedMetrics(t, root)
	rules := readRules(t, dir)

	recorded := map[string]bool{}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				recorded[r.Record] = true
			}
		}
	}
	known := func(name string) bool {
		if recorded[name] || exported[name] || builtinSeries[name] {
			return true
		}
		for _, suffix := range []string{"_bucket", "_sum", "_count"} { // a histogram's series
			if base, ok := strings.CutSuffix(name, suffix); ok && exported[base] {
				return true
			}
		}
		return false
	}

	type query struct{ where, expr string }
	var queries []query
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			queries = append(queries, query{"rule " + r.Record + r.Alert, r.Expr})
		}
	}
	consoles, _ := filepath.Glob(filepath.Join(dir, "consoles", "*.html"))
	libs, _ := filepath.Glob(filepath.Join(dir, "console_libraries", "*.lib"))
	if len(consoles) == 0 {
		t.Fatalf("no console templates in %s/consoles", dir)
	}
	for _, f := range append(consoles, libs...) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range consoleQuery.FindAllSubmatch(b, -1) {
			queries = append(queries, query{filepath.Base(f), string(m[1])})
		}
	}
	literals := codeLiterals(t, root)
	used := 0
	for _, q := range queries {
		for _, lv := range labelValues(q.expr) {
			if !literals[lv.value] {
				t.Errorf("%s matches %s=%q, a value no service's code has as a string: renamed?", q.where, lv.label, lv.value)
			}
		}
		names := metricNames(q.expr)
		if len(names) == 0 {
			t.Errorf("%s: found no metric in %q", q.where, q.expr)
		}
		for _, name := range names {
			used++
			if !known(name) {
				t.Errorf("%s uses %s, which no service exports and no recording rule makes", q.where, name)
			}
		}
	}
	t.Logf("%d queries name %d metrics; %d metrics are exported by the code", len(queries), used, len(exported))
}

// builtinSeries are made by Prometheus itself, per scrape.
var builtinSeries = map[string]bool{"up": true, "ALERTS": true, "scrape_duration_seconds": true, "scrape_samples_scraped": true}

// consoleQuery is a query in a console template: a raw string after query, args (the
// library's templates take their query first) or printf (a query with a label filled in).
var consoleQuery = regexp.MustCompile("(?:query|args|printf)\\s+\\(?`([^`]*)`")

// metricOpts is the name in the options of a client_golang metric; Name is its first field
// throughout the code.
var metricOpts = regexp.MustCompile(`(?s)(?:Counter|Gauge|Histogram|Summary)Opts\{\s*Name:\s*"([a-zA-Z_:][a-zA-Z0-9_:]*)"`)

// exportedMetrics reads the metric names from the services' code (not their tests), and adds those
// of the Go runtime and process collectors every service registers (platform/ops).
func exportedMetrics(t *testing.T, root string) map[string]bool {
	t.Helper()
	names := serviceCodeMatches(t, root, metricOpts)
	// The services declare about fifty; far fewer means the pattern no longer matches how they do.
	if len(names) < 30 {
		t.Fatalf("the code scan found only %d metric names, %v: does metricOpts still match how metrics are declared?", len(names), slices.Sorted(maps.Keys(names)))
	}
	for _, n := range []string{"go_goroutines", "go_memstats_alloc_bytes", "go_memstats_heap_inuse_bytes",
		"process_cpu_seconds_total", "process_resident_memory_bytes", "process_start_time_seconds"} {
		names[n] = true
	}
	return names
}

// labelMatcher is a label matcher in a selector: name, operator, quoted value.
var labelMatcher = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"`)

// plainAlternation is a regular expression that only lists values: a|b|c.
var plainAlternation = regexp.MustCompile(`^[a-zA-Z0-9_]+(\|[a-zA-Z0-9_]+)*$`)

// ownLabels are set by Prometheus or its configuration, not by the services.
var ownLabels = map[string]bool{"job": true, "instance": true, "alertname": true, "alertstate": true, "severity": true}

type labelValue struct{ label, value string }

// labelValues returns the values a query's label matchers name: each literal, and each branch of a
// regular expression that is a plain alternation (a|b). Other patterns are left out.
func labelValues(expr string) []labelValue {
	var out []labelValue
	for _, m := range labelMatcher.FindAllStringSubmatch(expr, -1) {
		label, op, value := m[1], m[2], m[3]
		if ownLabels[label] || value == "" || strings.Contains(value, "%") { // %s: filled in by a console
			continue
		}
		values := []string{value}
		if op == "=~" || op == "!~" {
			if !plainAlternation.MatchString(value) {
				continue
			}
			values = strings.Split(value, "|")
		}
		for _, v := range values {
			out = append(out, labelValue{label, v})
		}
	}
	return out
}

// codeLiterals collects the Go string literals of the services' code (not their tests): a label
// value a rule matches, such as reason="queue_unavailable", must be among them.
func codeLiterals(t *testing.T, root string) map[string]bool {
	t.Helper()
	return serviceCodeMatches(t, root, regexp.MustCompile(`"([a-zA-Z0-9_]+)"`))
}

// serviceCodeMatches collects the first submatch of re over the services' Go code (not their
// tests).
func serviceCodeMatches(t *testing.T, root string, re *regexp.Regexp) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, mod := range []string{"platform", "vote", "worker", "result", "analyzer"} {
		err := filepath.WalkDir(filepath.Join(root, mod), func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for _, m := range re.FindAllSubmatch(b, -1) {
				out[string(m[1])] = true
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

var (
	promString   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'`)
	promBraces   = regexp.MustCompile(`\{[^{}]*\}`)
	promBrackets = regexp.MustCompile(`\[[^\[\]]*\]`)
	// by (…), without (…), on (…), ignoring (…), group_left (…), group_right (…): label names.
	promGrouping = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)`)
	promIdent    = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
	promKeywords = map[string]bool{"and": true, "or": true, "unless": true, "bool": true, "offset": true,
		"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
		"inf": true, "nan": true, "Inf": true, "NaN": true}
)

// metricNames returns the metric names a PromQL expression selects: identifiers that are not
// functions, keywords, label names, label values, durations or numbers.
func metricNames(expr string) []string {
	s := promString.ReplaceAllString(expr, `""`)
	s = promBraces.ReplaceAllString(s, " ")
	s = promBrackets.ReplaceAllString(s, " ")
	s = promGrouping.ReplaceAllString(s, " ")
	var names []string
	for _, loc := range promIdent.FindAllStringIndex(s, -1) {
		name := s[loc[0]:loc[1]]
		rest := strings.TrimLeft(s[loc[1]:], " \t\n")
		if strings.HasPrefix(rest, "(") || promKeywords[name] {
			continue // a function or an aggregation
		}
		if loc[0] > 0 && (s[loc[0]-1] >= '0' && s[loc[0]-1] <= '9' || s[loc[0]-1] == '.') {
			continue // the exponent or unit of a number: 1e3, 5m
		}
		if !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	return names
}

func TestMetricNames(t *testing.T) {
	for _, tc := range []struct {
		expr string
		want []string
	}{
		{`sum(rate(votes_cast_total[1m]))`, []string{"votes_cast_total"}},
		{`sum by (reason) (rate(vote_failures_total{reason=~"a|b"}[5m])) / ignoring(x) up`, []string{"vote_failures_total", "up"}},
		{`max by (instance, dependency) (worker_consecutive_failures) >= 3`, []string{"worker_consecutive_failures"}},
		{`absent(up{job="worker"} == 1)`, []string{"up"}},
		{`job:x:rate1m > 1e3 and on() vector(1)`, []string{"job:x:rate1m"}},
		{`histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{job='vote'}[5m])))`, []string{"http_request_duration_seconds_bucket"}},
	} {
		if got := metricNames(tc.expr); !slices.Equal(got, tc.want) {
			t.Errorf("metricNames(%q) = %q, want %q", tc.expr, got, tc.want)
		}
	}
	got := labelValues(`x{reason=~"queue_unavailable|internal", how!="ok", job="vote", le=~"0.1.*"} + y{instance="%s"}`)
	want := []labelValue{{"reason", "queue_unavailable"}, {"reason", "internal"}, {"how", "ok"}}
	if !slices.Equal(got, want) {
		t.Errorf("labelValues = %v, want %v", got, want)
	}
}

// TestEveryAlertTested: each alert has a promtool test in which it fires and one in which it does
// not, so an alert that can never fire, or always does, is caught before an operator relies on it.
func TestEveryAlertTested(t *testing.T) {
	dir := filepath.Join(repoRoot(t), monitoringDir)
	firing, quiet := map[string]bool{}, map[string]bool{}
	for _, f := range ruleTestFiles(t, dir) {
		var file struct {
			Tests []struct {
				AlertRuleTest []struct {
					Alertname string
					ExpAlerts []map[string]any `json:"exp_alerts"`
				} `json:"alert_rule_test"`
			}
		}
		readYAML(t, filepath.Join(dir, f), &file)
		for _, tc := range file.Tests {
			for _, a := range tc.AlertRuleTest {
				if len(a.ExpAlerts) > 0 {
					firing[a.Alertname] = true
				} else {
					quiet[a.Alertname] = true
				}
			}
		}
	}
	alerts := 0
	for _, g := range readRules(t, dir).Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			alerts++
			if !firing[r.Alert] {
				t.Errorf("alert %s: no promtool test in %s/tests expects it to fire", r.Alert, monitoringDir)
			}
			if !quiet[r.Alert] {
				t.Errorf("alert %s: no promtool test in %s/tests expects it to stay quiet", r.Alert, monitoringDir)
			}
			delete(firing, r.Alert)
			delete(quiet, r.Alert)
		}
	}
	for name := range maps.Keys(firing) {
		t.Errorf("the tests expect an alert %s that no rule defines", name)
	}
	if alerts == 0 {
		t.Fatal("no alerting rules found")
	}
}

// TestMonitoringSegmentation reads docker-compose.yml: Prometheus shares only the internal ops
// network with the services, and neither Redis nor Postgres is on it, so adding monitoring opens
// no way to the stores. The compose test (make e2e-monitoring) checks the same from inside the
// running containers.
func TestMonitoringSegmentation(t *testing.T) {
	compose := readComposeFile(t, filepath.Join(repoRoot(t), "docker-compose.yml"))
	prom, ok := compose.Services["prometheus"]
	if !ok {
		t.Fatal("docker-compose.yml has no prometheus service")
	}
	if n, ok := compose.Networks["ops"]; !ok || !n.Internal {
		t.Errorf("network ops: %+v (defined: %t), want internal", n, ok)
	}
	storeNets := map[string]bool{}
	for _, store := range []string{"db", "redis"} {
		for _, n := range compose.Services[store].Networks {
			storeNets[n] = true
		}
	}
	for _, n := range prom.Networks {
		if storeNets[n] {
			t.Errorf("prometheus is on network %s, which a store (db, redis) is on", n)
		}
		if n != "ops" {
			for name, s := range compose.Services {
				if name != "prometheus" && slices.Contains(s.Networks, n) {
					t.Errorf("prometheus's network %s is shared with %s: only ops may be shared", n, name)
				}
			}
		}
	}
	for _, svc := range []string{"vote", "worker", "result", "analyzer"} {
		if !slices.Contains(compose.Services[svc].Networks, "ops") {
			t.Errorf("%s is not on the ops network: Prometheus cannot scrape it", svc)
		}
	}
}
