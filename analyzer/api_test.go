package main

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-voting-app/voting-app/platform/postgres"
	"github.com/go-voting-app/voting-app/platform/stats"
	"github.com/jackc/pgx/v5/pgconn"
)

func TestOpenAPIDocumentIsValidAndServed(t *testing.T) {
	doc, _ := loadDoc(t)
	a := newAnalyzer(t, setup{})
	resp, body := a.get("/api/v1/openapi.yaml")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/yaml" || string(body) != string(openAPI) {
		t.Fatalf("GET openapi.yaml: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	req := httptest.NewRequest(http.MethodGet, "/api/v1/openapi.yaml", nil)
	req.Header.Set("If-None-Match", resp.Header.Get("ETag"))
	rec := httptest.NewRecorder()
	a.handler.ServeHTTP(rec, req)
	if rec.Code != http.StatusNotModified {
		t.Errorf("revalidation with the ETag: %d, want 304", rec.Code)
	}
	// Every documented path answers with its defaults, and its answer matches the document.
	for path := range doc.Paths.Map() {
		if resp, body := a.get(path); resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %d %s", path, resp.StatusCode, body)
		}
	}
}

type summaryBody struct {
	Total   int64 `json:"total"`
	Options []struct {
		Key      string         `json:"key"`
		Label    string         `json:"label"`
		Votes    int64          `json:"votes"`
		Share    float64        `json:"share"`
		Interval stats.Interval `json:"interval"`
	} `json:"options"`
	Leader *string `json:"leader"`
	Margin struct {
		Between  []string       `json:"between"`
		Estimate float64        `json:"estimate"`
		Interval stats.Interval `json:"interval"`
	} `json:"margin"`
	Significant     bool    `json:"significant"`
	LeadProbability float64 `json:"lead_probability"`
}

func TestSummary(t *testing.T) {
	t.Run("no votes", func(t *testing.T) {
		a := newAnalyzer(t, setup{})
		s := getJSON[summaryBody](a, "/api/v1/summary")
		if s.Total != 0 || s.Leader != nil || s.Significant || s.LeadProbability != 0.5 {
			t.Errorf("%+v", s)
		}
		for _, o := range s.Options {
			if o.Share != 0 || o.Interval != (stats.Interval{Lower: 0, Upper: 1}) {
				t.Errorf("option %+v: want share 0 in [0, 1]", o)
			}
		}
		if s.Margin.Interval != (stats.Interval{Lower: -1, Upper: 1}) || !slices.Equal(s.Margin.Between, []string{"a", "b"}) {
			t.Errorf("margin %+v", s.Margin)
		}
	})
	t.Run("81 to 182", func(t *testing.T) {
		a := newAnalyzer(t, setup{})
		a.castMany("a", 81, a.now.Add(-time.Hour))
		a.castMany("b", 182, a.now.Add(-time.Hour))
		s := getJSON[summaryBody](a, "/api/v1/summary")
		if s.Total != 263 || s.Leader == nil || *s.Leader != "b" || !s.Significant || s.LeadProbability < 0.999 {
			t.Fatalf("%+v", s)
		}
		cats, dogs := s.Options[0], s.Options[1]
		if cats.Label != "Cats" || cats.Votes != 81 || dogs.Label != "Dogs" || dogs.Votes != 182 {
			t.Fatalf("options %+v", s.Options)
		}
		near(t, "cats lower", cats.Interval.Lower, 0.255289, 1e-6)
		near(t, "cats upper", cats.Interval.Upper, 0.366210, 1e-6)
		near(t, "dogs lower", dogs.Interval.Lower, 1-0.366210, 1e-6)
		// Dogs minus Cats: 101/263, in [1 - 2·0.366210, 1 - 2·0.255289].
		near(t, "margin", s.Margin.Estimate, 101.0/263, 1e-12)
		near(t, "margin lower", s.Margin.Interval.Lower, 0.267581, 2e-6)
		near(t, "margin upper", s.Margin.Interval.Upper, 0.489423, 2e-6)
		if !slices.Equal(s.Margin.Between, []string{"b", "a"}) {
			t.Errorf("between %v", s.Margin.Between)
		}
	})
	t.Run("tie", func(t *testing.T) {
		a := newAnalyzer(t, setup{})
		a.castMany("a", 5, a.now)
		a.castMany("b", 5, a.now)
		s := getJSON[summaryBody](a, "/api/v1/summary")
		if s.Leader != nil || s.Significant || s.LeadProbability != 0.5 || s.Margin.Estimate != 0 {
			t.Errorf("%+v", s)
		}
	})
	t.Run("one option only", func(t *testing.T) {
		a := newAnalyzer(t, setup{})
		a.castMany("a", 10, a.now)
		s := getJSON[summaryBody](a, "/api/v1/summary")
		z2 := stats.Z95 * stats.Z95
		if s.Options[0].Interval.Upper != 1 || s.Options[1].Interval.Lower != 0 {
			t.Errorf("options %+v", s.Options)
		}
		near(t, "lower", s.Options[0].Interval.Lower, 10/(10+z2), 1e-12)
	})
	t.Run("a changed vote counts once, for the new option", func(t *testing.T) {
		a := newAnalyzer(t, setup{})
		a.cast("a", a.now.Add(-time.Minute), "voter-1")
		a.cast("b", a.now, "voter-1")
		s := getJSON[summaryBody](a, "/api/v1/summary")
		if s.Total != 1 || s.Options[1].Votes != 1 {
			t.Errorf("%+v", s)
		}
	})
}

func near(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	if math.IsNaN(got) || math.Abs(got-want) > tol {
		t.Errorf("%s = %.9g, want %.9g ± %g", what, got, want, tol)
	}
}

type timelineBody struct {
	From          time.Time `json:"from"`
	To            time.Time `json:"to"`
	BucketSeconds int64     `json:"bucket_seconds"`
	Buckets       []struct {
		Start time.Time        `json:"start"`
		Votes map[string]int64 `json:"votes"`
		Total int64            `json:"total"`
	} `json:"buckets"`
}

func TestTimeline(t *testing.T) {
	a := newAnalyzer(t, setup{})
	t0 := a.now.Truncate(time.Minute).Add(-5 * time.Minute) // a minute boundary
	a.castMany("a", 3, t0)                                  // first instant of bucket 0
	a.castMany("b", 2, t0.Add(59*time.Second))              // last second of bucket 0
	a.castMany("b", 4, t0.Add(2*time.Minute+time.Second))   // bucket 2
	a.castMany("a", 7, t0.Add(5*time.Minute))               // == to: outside [from, to)
	a.castMany("a", 1, t0.Add(-time.Second))                // before from

	path := "/api/v1/timeline?bucket=1m&from=" + t0.Format(time.RFC3339) + "&to=" + t0.Add(5*time.Minute).Format(time.RFC3339)
	tl := getJSON[timelineBody](a, path)
	if len(tl.Buckets) != 5 || tl.BucketSeconds != 60 || !tl.From.Equal(t0) {
		t.Fatalf("%+v", tl)
	}
	want := []map[string]int64{{"a": 3, "b": 2}, {"a": 0, "b": 0}, {"a": 0, "b": 4}, {"a": 0, "b": 0}, {"a": 0, "b": 0}}
	for i, b := range tl.Buckets {
		if !b.Start.Equal(t0.Add(time.Duration(i) * time.Minute)) {
			t.Errorf("bucket %d starts %v", i, b.Start)
		}
		if b.Votes["a"] != want[i]["a"] || b.Votes["b"] != want[i]["b"] || b.Total != want[i]["a"]+want[i]["b"] {
			t.Errorf("bucket %d: %v total %d, want %v", i, b.Votes, b.Total, want[i])
		}
	}

	t.Run("default range is the last 60 buckets on bucket boundaries", func(t *testing.T) {
		tl := getJSON[timelineBody](a, "/api/v1/timeline")
		if !tl.To.Equal(a.now) || !tl.From.Truncate(time.Minute).Equal(tl.From) || len(tl.Buckets) != 61 {
			t.Errorf("from %v to %v, %d buckets", tl.From, tl.To, len(tl.Buckets))
		}
		var total int64
		for _, b := range tl.Buckets {
			total += b.Total
		}
		if total != 3+2+4+7+1 {
			t.Errorf("total %d", total)
		}
	})
	t.Run("a range that does not divide into buckets ends with a short one", func(t *testing.T) {
		tl := getJSON[timelineBody](a, "/api/v1/timeline?bucket=2m&from="+t0.Format(time.RFC3339)+"&to="+t0.Add(5*time.Minute).Format(time.RFC3339))
		if len(tl.Buckets) != 3 || tl.Buckets[0].Total != 5 || tl.Buckets[1].Total != 4 || tl.Buckets[2].Total != 0 {
			t.Errorf("%+v", tl.Buckets)
		}
	})
}

type momentumBody struct {
	RecentTotal int64 `json:"recent_total"`
	Total       int64 `json:"total"`
	Options     []struct {
		Key         string   `json:"key"`
		RecentVotes int64    `json:"recent_votes"`
		RecentShare float64  `json:"recent_share"`
		Share       float64  `json:"share"`
		Shift       *float64 `json:"shift"`
	} `json:"options"`
}

func TestMomentum(t *testing.T) {
	a := newAnalyzer(t, setup{})
	a.castMany("a", 10, a.now.Add(-time.Hour))
	a.castMany("b", 10, a.now.Add(-time.Hour))
	a.castMany("b", 4, a.now.Add(-2*time.Minute))

	m := getJSON[momentumBody](a, "/api/v1/momentum?window=5m")
	if m.RecentTotal != 4 || m.Total != 24 {
		t.Fatalf("%+v", m)
	}
	cats, dogs := m.Options[0], m.Options[1]
	if cats.Shift == nil || dogs.Shift == nil {
		t.Fatalf("%+v", m)
	}
	near(t, "dogs recent", dogs.RecentShare, 1, 0)
	near(t, "dogs shift", *dogs.Shift, 1-14.0/24, 1e-12)
	near(t, "cats shift", *cats.Shift, 0-10.0/24, 1e-12)

	quiet := getJSON[momentumBody](a, "/api/v1/momentum?window=1m")
	if quiet.RecentTotal != 0 || quiet.Options[0].Shift != nil || quiet.Options[1].Shift != nil {
		t.Errorf("no recent votes: %+v", quiet)
	}
}

type anomaliesBody struct {
	Bursts []struct {
		Start time.Time `json:"start"`
		Votes int64     `json:"votes"`
		Score float64   `json:"score"`
	} `json:"bursts"`
	BurstsTotal int64 `json:"bursts_total"`
	Changers    []struct {
		Voter   string `json:"voter"`
		Changes int64  `json:"changes"`
		Votes   int64  `json:"votes"`
	} `json:"changers"`
	ChangersTotal int64 `json:"changers_total"`
}

func TestAnomalies(t *testing.T) {
	a := newAnalyzer(t, setup{})
	start := a.now.Add(-time.Hour)
	// A steady one or two votes a minute for an hour, and one minute with forty.
	for i := range 60 {
		a.castMany("a", 1+i%2, start.Add(time.Duration(i)*time.Minute+time.Second))
	}
	a.castMany("b", 40, start.Add(37*time.Minute+10*time.Second))
	// One voter flips four times, another changes once and a third never does.
	flipper, once, steady := "f00dfeedf00dfeedf00dfeedf00dfeed", "0aced0aced0aced0aced0aced0aced0a", "5eed5eed5eed5eed5eed5eed5eed5eed"
	for i, opt := range []string{"a", "b", "a", "b", "a"} {
		a.cast(opt, start.Add(time.Duration(10+i)*time.Minute), flipper)
	}
	a.cast("a", start.Add(10*time.Minute), once)
	a.cast("b", start.Add(11*time.Minute), once)
	a.cast("a", start.Add(10*time.Minute), steady)
	a.cast("a", start.Add(12*time.Minute), steady)

	resp, body := a.get("/api/v1/anomalies?window=1h&bucket=1m&min_changes=3")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	var an anomaliesBody
	json.Unmarshal(body, &an)
	if an.BurstsTotal != 1 || len(an.Bursts) != 1 {
		t.Fatalf("bursts %+v", an.Bursts)
	}
	// Buckets start at now - 1h, so the burst is bucket 37, with its background vote: 40 + 2. The
	// other buckets hold 1 to 4 votes: median 2, MAD 1, so its score is 40·0.6745 = 26.98.
	if b := an.Bursts[0]; !b.Start.Equal(start.Add(37*time.Minute)) || b.Votes != 42 || math.Abs(b.Score-40*0.6744897501960817) > 1e-9 {
		t.Errorf("burst %+v", b)
	}
	if an.ChangersTotal != 1 || len(an.Changers) != 1 {
		t.Fatalf("changers %+v", an.Changers)
	}
	if c := an.Changers[0]; c.Voter != "f00dfeed…" || c.Changes != 4 || c.Votes != 5 {
		t.Errorf("changer %+v", c)
	}
	for _, id := range []string{flipper, once, steady} {
		if strings.Contains(string(body), id) {
			t.Errorf("a full voter id is in the response: %s", body)
		}
	}

	t.Run("thresholds", func(t *testing.T) {
		an := getJSON[anomaliesBody](a, "/api/v1/anomalies?window=1h&bucket=1m&min_changes=1&min_votes=43")
		if an.BurstsTotal != 0 || an.ChangersTotal != 2 {
			t.Errorf("bursts %d, changers %d: want 0 and 2", an.BurstsTotal, an.ChangersTotal)
		}
		an = getJSON[anomaliesBody](a, "/api/v1/anomalies?window=1h&bucket=1m&min_changes=1&limit=1")
		if len(an.Changers) != 1 || an.ChangersTotal != 2 || an.Changers[0].Changes != 4 {
			t.Errorf("limit 1: %+v", an.Changers)
		}
	})
}

func TestBadParameters(t *testing.T) {
	a := newAnalyzer(t, setup{})
	now := a.now.Format(time.RFC3339)
	hourAgo := a.now.Add(-time.Hour).Format(time.RFC3339)
	tests := []struct {
		path   string
		params []string // the parameters the problem must name
	}{
		{"/api/v1/timeline?bucket=abc", []string{"bucket"}},
		{"/api/v1/timeline?bucket=0s", []string{"bucket"}},
		{"/api/v1/timeline?bucket=-1m", []string{"bucket"}},
		{"/api/v1/timeline?bucket=1500ms", []string{"bucket"}},
		{"/api/v1/timeline?bucket=1000h", []string{"bucket"}},
		{"/api/v1/timeline?bucket=1m&bucket=5m", []string{"bucket"}},
		{"/api/v1/timeline?from=yesterday", []string{"from"}},
		{"/api/v1/timeline?to=2025-13-01T00:00:00Z", []string{"to"}},
		{"/api/v1/timeline?from=" + now + "&to=" + hourAgo, []string{"from"}},
		{"/api/v1/timeline?from=" + now + "&to=" + now, []string{"from"}},
		{"/api/v1/timeline?bucket=1s&from=" + hourAgo + "&to=" + now, []string{"bucket"}}, // 3600 buckets
		{"/api/v1/timeline?bucket=x&from=y&to=z", []string{"bucket", "from", "to"}},
		{"/api/v1/momentum?window=x", []string{"window"}},
		{"/api/v1/momentum?window=10s", []string{"window"}},
		{"/api/v1/momentum?window=-5m", []string{"window"}},
		{"/api/v1/momentum?window=9000h", []string{"window"}},
		{"/api/v1/anomalies?threshold=NaN", []string{"threshold"}},
		{"/api/v1/anomalies?threshold=0.5", []string{"threshold"}},
		{"/api/v1/anomalies?threshold=1e400", []string{"threshold"}},
		{"/api/v1/anomalies?min_votes=abc", []string{"min_votes"}},
		{"/api/v1/anomalies?min_changes=0", []string{"min_changes"}},
		{"/api/v1/anomalies?limit=1000", []string{"limit"}},
		{"/api/v1/anomalies?limit=99999999999999999999", []string{"limit"}},
		{"/api/v1/anomalies?window=5m&bucket=1m", []string{"bucket"}}, // too few buckets for a baseline
		{"/api/v1/anomalies?window=168h&bucket=1m", []string{"bucket"}},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			p := a.wantProblem(tt.path, http.StatusBadRequest)
			var named []string
			for _, e := range p.Errors {
				named = append(named, e.Parameter)
			}
			slices.Sort(named)
			if !slices.Equal(named, slices.Sorted(slices.Values(tt.params))) {
				t.Errorf("problem names %v, want %v: %+v", named, tt.params, p)
			}
		})
	}
}

func TestUnknownPathsAndMethodsAreProblems(t *testing.T) {
	a := newAnalyzer(t, setup{})
	a.wantProblem("/api/v1/nothing-here", http.StatusNotFound)
	a.wantProblem("/", http.StatusNotFound)

	rec := httptest.NewRecorder()
	a.handler.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/api/v1/summary", strings.NewReader("{}")))
	if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET, HEAD" ||
		rec.Header().Get("Content-Type") != "application/problem+json" {
		t.Errorf("POST: %d %v", rec.Code, rec.Header())
	}
}

// TestHeadIsGetWithoutBody: HEAD answers wherever GET does, with GET's status and headers.
func TestHeadIsGetWithoutBody(t *testing.T) {
	a := newAnalyzer(t, setup{})
	for _, tt := range []struct {
		path        string
		status      int
		contentType string
	}{
		{"/api/v1/summary", http.StatusOK, "application/json"},
		{"/api/v1/openapi.yaml", http.StatusOK, "application/yaml"},
		{"/api/v1/nothing-here", http.StatusNotFound, "application/problem+json"},
	} {
		get, head := httptest.NewRecorder(), httptest.NewRecorder()
		a.handler.ServeHTTP(get, httptest.NewRequest(http.MethodGet, tt.path, nil))
		a.handler.ServeHTTP(head, httptest.NewRequest(http.MethodHead, tt.path, nil))
		if head.Code != tt.status || get.Code != tt.status {
			t.Errorf("%s: HEAD %d, GET %d, want %d", tt.path, head.Code, get.Code, tt.status)
		}
		if ct := head.Header().Get("Content-Type"); !strings.HasPrefix(ct, tt.contentType) || ct != get.Header().Get("Content-Type") {
			t.Errorf("%s: HEAD Content-Type %q, GET %q, want %s", tt.path, ct, get.Header().Get("Content-Type"), tt.contentType)
		}
	}
}

func TestBeforeTheSchemaExists(t *testing.T) {
	a := newAnalyzer(t, setup{unmigrated: true})
	for _, path := range []string{"/api/v1/summary", "/api/v1/timeline", "/api/v1/momentum", "/api/v1/anomalies", "/api/v1/insight"} {
		p := a.wantProblem(path, http.StatusServiceUnavailable)
		if !strings.Contains(p.Detail, "schema") {
			t.Errorf("%s: %+v", path, p)
		}
	}
}

// SQL metacharacters in any parameter either fail validation or are plain values to Postgres.
func TestSQLMetacharactersAreHarmless(t *testing.T) {
	a := newAnalyzer(t, setup{})
	a.castMany("a", 3, a.now.Add(-time.Minute))
	a.cast("b", a.now.Add(-time.Minute), "feedfacefeedfacefeedfacefeedface")
	nasty := []string{
		`'; DROP TABLE votes; --`,
		`1m'; DELETE FROM vote_history; --`,
		`2025-01-01T00:00:00Z' OR '1'='1`,
		`1); TRUNCATE votes CASCADE; --`,
		`$1`, `\`, `"`, `%`, `_`, `%00`, `%27%3B`,
	}
	paths := map[string][]string{
		"/api/v1/summary":   {"x"},
		"/api/v1/timeline":  {"bucket", "from", "to"},
		"/api/v1/momentum":  {"window"},
		"/api/v1/anomalies": {"window", "bucket", "threshold", "min_votes", "min_changes", "limit"},
		"/api/v1/insight":   {"x"},
	}
	for path, names := range paths {
		for _, name := range names {
			for _, v := range nasty {
				target := path + "?" + name + "=" + strings.NewReplacer(" ", "%20", "'", "%27", ";", "%3B", "#", "%23").Replace(v)
				resp, body := a.get(target)
				if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusBadRequest {
					t.Errorf("GET %s: %d %s", target, resp.StatusCode, body)
				}
			}
		}
	}
	var votes, history, totals int64
	err := a.owner.QueryRow(context.Background(),
		`SELECT (SELECT count(*) FROM votes), (SELECT count(*) FROM vote_history), (SELECT sum(votes) FROM vote_totals)`).
		Scan(&votes, &history, &totals)
	if err != nil || votes != 4 || history != 4 || totals != 4 {
		t.Errorf("tables after the attempts: votes %d, history %d, totals %d, err %v", votes, history, totals, err)
	}
}

func TestReadIsReadOnlyAndBounded(t *testing.T) {
	a := newAnalyzer(t, setup{})
	// The owner may write, but not through the store: its connections are read-only whatever the
	// role, and bounded by the timeout on the server.
	ctx := context.Background()
	st, err := openStore(ctx, postgres.Config{URL: a.ownerURL, AppName: "analyzer-test"}, 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer st.pool.Close()
	err = st.read(ctx, func(q postgres.Querier) error {
		rows, err := q.Query(ctx, `INSERT INTO vote_totals (vote, votes) VALUES ('z', 1)`)
		if err != nil {
			return err
		}
		rows.Close()
		return rows.Err()
	})
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); !ok || pgErr.Code != "25006" { // read_only_sql_transaction
		t.Errorf("insert in read: %v, want read_only_sql_transaction", err)
	}
	var setting string
	err = st.read(ctx, func(q postgres.Querier) error {
		return q.QueryRow(ctx, `SHOW statement_timeout`).Scan(&setting)
	})
	if err != nil || setting != "300ms" {
		t.Errorf("statement_timeout %q, %v", setting, err)
	}
	err = st.read(ctx, func(q postgres.Querier) error {
		var v any
		return q.QueryRow(ctx, `SELECT pg_sleep(30)`).Scan(&v)
	})
	if p := problemFor(err); err == nil || p.Status != http.StatusServiceUnavailable {
		t.Errorf("slow query: %v → %d, want 503", err, p.Status)
	}
}
