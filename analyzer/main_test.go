package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/go-voting-app/voting-app/analyzer/llm"
	"github.com/go-voting-app/voting-app/platform/ballot"
	"github.com/go-voting-app/voting-app/platform/postgres"
	"github.com/go-voting-app/voting-app/platform/postgres/migrations"
	"github.com/go-voting-app/voting-app/platform/web"
	"github.com/go-voting-app/voting-app/testkit"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

func TestMain(m *testing.M) { testkit.Main(m) }

var quiet = slog.New(slog.DiscardHandler)

// loadDoc loads and validates the embedded OpenAPI document.
func loadDoc(t testing.TB) (*openapi3.T, routers.Router) {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(openAPI)
	if err != nil {
		t.Fatalf("load openapi.yaml: %v", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		t.Fatalf("openapi.yaml is not a valid OpenAPI document: %v", err)
	}
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return doc, router
}

// analyzer is the service under test: the real router over a fresh, migrated database that it
// reads with a role that may only SELECT, and a clock that stands still.
type analyzer struct {
	t        *testing.T
	owner    *pgxpool.Pool // migrates and writes, as the worker does
	ownerURL string
	reader   *pgxpool.Pool // what the analyzer uses
	handler  http.Handler
	router   routers.Router
	now      time.Time
	seq      atomic.Int64
	reg      *prometheus.Registry
}

type setup struct {
	model      *llm.Client
	ttl        time.Duration
	now        time.Time
	unmigrated bool // leave the database empty, as before the worker's first start
}

func newAnalyzer(t *testing.T, s setup) *analyzer {
	t.Helper()
	ctx := context.Background()
	dbURL := testkit.Postgres(t)
	owner := openPool(t, dbURL)
	roURL := readOnlyRole(t, owner, dbURL)
	if !s.unmigrated {
		if err := migrations.Up(ctx, owner, quiet); err != nil {
			t.Fatal(err)
		}
	}
	st, err := openStore(ctx, postgres.Config{URL: roURL, AppName: "analyzer-test", MaxConns: 8}, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.pool.Close)
	reader := st.pool
	if s.now.IsZero() {
		s.now = time.Now().UTC().Truncate(time.Minute).Add(30 * time.Second)
	}
	a := &analyzer{t: t, owner: owner, ownerURL: dbURL, reader: reader, now: s.now, reg: prometheus.NewRegistry()}
	_, a.router = loadDoc(t)
	opts, err := ballot.NewOptions("Cats", "Dogs")
	if err != nil {
		t.Fatal(err)
	}
	in := newInsights(quiet, s.model, insightConfig{CacheTTL: s.ttl, MaxInflight: 2, MaxCallsPerMinute: 1000}, time.Now, a.reg)
	clock := func() time.Time { return a.now }
	a.handler = newServer(quiet, web.NewMetrics(a.reg), st, newAnswers(quiet, st, clock, 0, 4, a.reg), opts, in, clock)
	return a
}

func openPool(t *testing.T, url string) *pgxpool.Pool {
	t.Helper()
	pool, err := postgres.Open(context.Background(), postgres.Config{URL: url, AppName: "analyzer-test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// readOnlyRole creates a login role that may only SELECT the tables, as deployments give the
// analyzer, and returns a URL that connects as it.
func readOnlyRole(t *testing.T, owner *pgxpool.Pool, dbURL string) string {
	t.Helper()
	ctx := context.Background()
	role := pgx.Identifier{testkit.UniqueName(t) + "_ro"}.Sanitize()
	// Default privileges cover the tables migrations create later, so the role can be made before
	// the worker has migrated, as in a fresh deployment.
	_, err := owner.Exec(ctx, fmt.Sprintf(`CREATE ROLE %[1]s LOGIN;
		GRANT USAGE ON SCHEMA public TO %[1]s;
		GRANT SELECT ON ALL TABLES IN SCHEMA public TO %[1]s;
		ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO %[1]s`, role))
	if err != nil {
		t.Fatal(err)
	}
	// Roles belong to the server, not to the test's database: drop it, after the pool that uses
	// it has closed (cleanups run last-registered first).
	t.Cleanup(func() {
		owner.Exec(context.Background(), fmt.Sprintf(`DROP OWNED BY %[1]s; DROP ROLE %[1]s`, role))
	})
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.User(role[1 : len(role)-1])
	return u.String()
}

// cast records votes as the worker would: one row per vote in vote_history, the last vote of
// each voter in votes (whose triggers keep vote_totals). Each voter votes once, at the given time.
func (a *analyzer) cast(option string, at time.Time, voters ...string) {
	a.t.Helper()
	base := a.seq.Add(int64(len(voters))) - int64(len(voters))
	_, err := a.owner.Exec(context.Background(), `
		WITH new AS (
			SELECT voter, $3::bigint + ord AS seq FROM unnest($1::text[]) WITH ORDINALITY AS v(voter, ord)
		), history AS (
			INSERT INTO vote_history (stream_ms, stream_seq, voter_id, vote, cast_at)
			SELECT $4, seq, voter, $2, $5 FROM new
		)
		INSERT INTO votes (id, vote, stream_ms, stream_seq, cast_at)
		SELECT voter, $2, $4, seq, $5 FROM new
		ON CONFLICT (id) DO UPDATE SET vote = EXCLUDED.vote, stream_ms = EXCLUDED.stream_ms,
			stream_seq = EXCLUDED.stream_seq, cast_at = EXCLUDED.cast_at, updated_at = now()`,
		voters, option, base, at.UnixMilli(), at)
	if err != nil {
		a.t.Fatal(err)
	}
}

// castMany casts n votes for option by n new voters.
func (a *analyzer) castMany(option string, n int, at time.Time) {
	a.t.Helper()
	voters := make([]string, n)
	for i := range voters {
		voters[i] = string(ballot.NewVoterID())
	}
	a.cast(option, at, voters...)
}

// get serves a request through the real router and checks the answer against the OpenAPI
// document: status documented, content type and body matching the schema.
func (a *analyzer) get(path string) (*http.Response, []byte) {
	a.t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	rec := httptest.NewRecorder()
	a.handler.ServeHTTP(rec, req)
	resp := rec.Result()
	body := rec.Body.Bytes()
	validate(a.t, a.router, req, resp, body)
	return resp, body
}

func validate(t *testing.T, router routers.Router, req *http.Request, resp *http.Response, body []byte) {
	t.Helper()
	route, pathParams, err := router.FindRoute(req)
	if err != nil {
		if resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("%s %s: not in the OpenAPI document (%v) but answered %d", req.Method, req.URL, err, resp.StatusCode)
		}
		return
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: pathParams, Route: route},
		Status:                 resp.StatusCode,
		Header:                 resp.Header,
		Body:                   io.NopCloser(bytes.NewReader(body)),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		t.Errorf("%s %s → %d does not match the OpenAPI document: %v\nbody: %s", req.Method, req.URL, resp.StatusCode, err, body)
	}
}

// getJSON gets path, wants 200, and decodes the body into a T.
func getJSON[T any](a *analyzer, path string) T {
	a.t.Helper()
	resp, body := a.get(path)
	if resp.StatusCode != http.StatusOK {
		a.t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		a.t.Errorf("GET %s: Content-Type %q", path, ct)
	}
	var v T
	if err := json.Unmarshal(body, &v); err != nil {
		a.t.Fatalf("GET %s: %v in %s", path, err, body)
	}
	return v
}

// wantProblem gets path and wants a problem+json answer with the status.
func (a *analyzer) wantProblem(path string, status int) web.Problem {
	a.t.Helper()
	resp, body := a.get(path)
	if resp.StatusCode != status {
		a.t.Fatalf("GET %s: status %d, want %d: %s", path, resp.StatusCode, status, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
		a.t.Errorf("GET %s: Content-Type %q, want application/problem+json", path, ct)
	}
	var p web.Problem
	if err := json.Unmarshal(body, &p); err != nil {
		a.t.Fatalf("GET %s: %v in %s", path, err, body)
	}
	if p.Status != status || p.Title != http.StatusText(status) || p.Type != "about:blank" || p.Detail == "" {
		a.t.Errorf("GET %s: problem %+v", path, p)
	}
	if u, _ := url.Parse(path); p.Instance != u.Path {
		a.t.Errorf("GET %s: instance %q, want %q", path, p.Instance, u.Path)
	}
	return p
}
