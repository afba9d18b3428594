package main

import (
	"crypto/tls"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-voting-app/voting-app/platform/queue"

	"github.com/go-voting-app/voting-app/platform/ballot"
	"github.com/go-voting-app/voting-app/testkit"
)

var voterIDShape = regexp.MustCompile(`^[0-9a-f]{32}$`)

// checkVoterCookie checks the attributes DESIGN asks of the voter cookie.
func checkVoterCookie(t *testing.T, c *http.Cookie, secure bool) {
	t.Helper()
	if c == nil {
		t.Fatal("no voter_id cookie set")
	}
	if !voterIDShape.MatchString(c.Value) {
		t.Errorf("voter_id = %q, want 32 lowercase hex characters", c.Value)
	}
	if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Secure != secure {
		t.Errorf("voter_id cookie: HttpOnly=%v SameSite=%v Path=%q Secure=%v; want true, Lax, /, %v",
			c.HttpOnly, c.SameSite, c.Path, c.Secure, secure)
	}
	if c.MaxAge != 365*24*60*60 {
		t.Errorf("voter_id Max-Age = %d, want one year", c.MaxAge)
	}
}

func TestBallotIssuesVoterCookie(t *testing.T) {
	ts := newTestServer(t)
	res, body := ts.serve(t, httptest.NewRequest(http.MethodGet, "/", nil))
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET / = %d, want 200", res.StatusCode)
	}
	checkVoterCookie(t, cookieNamed(res, voterCookie), false)
	if got := res.Header.Get("Content-Type"); got != "text/html; charset=utf-8" {
		t.Errorf("Content-Type = %q", got)
	}
	if got := res.Header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store (the page shows the visitor's choice)", got)
	}
	for _, want := range []string{
		"<h1>Cats or Dogs?</h1>",
		`name="viewport"`,
		`<input type="hidden" name="vote" value="a">`,
		`<input type="hidden" name="vote" value="b">`,
		">Cats</button>", ">Dogs</button>",
		"served by vote-test-host",
		`<link rel="stylesheet" href="/static/style.`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, "You voted") || strings.Contains(body, "<script") {
		t.Errorf("page of a new visitor shows a choice or a script:\n%s", body)
	}
}

func TestBallotKeepsValidVoterCookie(t *testing.T) {
	ts := newTestServer(t)
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.AddCookie(voterCookieOf(ballot.NewVoterID()))
	res, _ := ts.serve(t, req)
	if c := cookieNamed(res, voterCookie); c != nil {
		t.Errorf("valid voter cookie replaced by %q", c.Value)
	}
}

func TestBallotReplacesBadVoterCookie(t *testing.T) {
	ts := newTestServer(t)
	valid := string(ballot.NewVoterID())
	for name, value := range map[string]string{
		"uppercase":     strings.ToUpper(valid),
		"too short":     valid[:31],
		"too long":      valid + "0",
		"oversized":     strings.Repeat("ab", 2000),
		"not hex":       "zz" + valid[2:],
		"legacy 64-bit": valid[:16],
		"sql":           "1' OR '1'='1",
	} {
		t.Run(name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			req.Header.Set("Cookie", voterCookie+"="+value)
			res, _ := ts.serve(t, req)
			c := cookieNamed(res, voterCookie)
			checkVoterCookie(t, c, false)
			if c != nil && c.Value == value {
				t.Errorf("bad cookie value kept")
			}
		})
	}
}

// A stray voter_id for another path must not hide the valid one.
func TestBallotPrefersValidAmongSeveralVoterCookies(t *testing.T) {
	ts := newTestServer(t)
	id := ballot.NewVoterID()
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("Cookie", voterCookie+"=junk; "+voterCookie+"="+string(id))
	res, _ := ts.serve(t, req)
	if c := cookieNamed(res, voterCookie); c != nil {
		t.Errorf("voter cookie replaced although one was valid")
	}
}

func TestVoterCookieSecure(t *testing.T) {
	ts := newTestServer(t)
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.TLS = &tls.ConnectionState{}
	res, _ := ts.serve(t, req)
	checkVoterCookie(t, cookieNamed(res, voterCookie), true)

	// COOKIE_SECURE: TLS ended at a proxy, the request itself is plain HTTP.
	rec := httptest.NewRecorder()
	cookiePolicy{alwaysSecure: true}.voter(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	checkVoterCookie(t, cookieNamed(rec.Result(), voterCookie), true)
}

func TestVote(t *testing.T) {
	ts := newTestServer(t)
	id := ballot.NewVoterID()

	before := time.Now().UnixMilli()
	res, _ := ts.serve(t, formVote("vote=a", voterCookieOf(id)))
	after := time.Now().UnixMilli()
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/" {
		t.Fatalf("POST / = %d Location %q, want 303 to /", res.StatusCode, res.Header.Get("Location"))
	}
	if c := cookieNamed(res, voterCookie); c != nil {
		t.Errorf("valid voter cookie replaced on POST")
	}
	entries := ts.entries(t)
	if len(entries) != 1 {
		t.Fatalf("stream has %d entries, want 1: %v", len(entries), entries)
	}
	e := entries[0].Values
	if len(e) != 3 || e[queue.FieldVoter] != string(id) || e[queue.FieldOption] != "a" {
		t.Errorf("entry = %v, want voter %s, vote a and ts", e, id)
	}
	ts0, err := strconv.ParseInt(e[queue.FieldCastAt].(string), 10, 64)
	if err != nil || ts0 < before || ts0 > after {
		t.Errorf("entry ts = %v, want Unix ms in [%d, %d]", e[queue.FieldCastAt], before, after)
	}
	// What a worker makes of it, once moved onto the stream verbatim.
	cast := queue.Entry{ID: entries[0].ID, Fields: map[string]any{queue.FieldCast: ts.inbox(t)[0]}}
	if v, err := queue.Decode(cast); err != nil || v.Voter != string(id) || v.Option != "a" {
		t.Errorf("worker would read the entry as %+v, %v", v, err)
	}

	choice := cookieNamed(res, choiceCookie)
	if choice == nil || choice.Value != "a" || !choice.HttpOnly || choice.SameSite != http.SameSiteLaxMode {
		t.Fatalf("choice cookie = %v, want voted=a, HttpOnly, Lax", choice)
	}
	if got := testutilCount(ts, "a"); got != 1 {
		t.Errorf("votes_cast_total{option=a} = %v, want 1", got)
	}

	// The page after the redirect shows the choice.
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.AddCookie(voterCookieOf(id))
	req.AddCookie(choice)
	_, body := ts.serve(t, req)
	if !strings.Contains(body, "You voted for <strong>Cats</strong>") ||
		!strings.Contains(body, `chosen" aria-pressed="true">Cats</button>`) {
		t.Errorf("page does not show the choice:\n%s", body)
	}

	// Changing one's mind is another entry; the worker keeps the later one.
	res, _ = ts.serve(t, formVote("vote=b", voterCookieOf(id)))
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("second vote = %d", res.StatusCode)
	}
	if entries := ts.entries(t); len(entries) != 2 || entries[1].Values[queue.FieldOption] != "b" {
		t.Errorf("after changing the vote the stream has %v", entries)
	}
}

func TestVoteWithoutCookieIssuesOne(t *testing.T) {
	ts := newTestServer(t)
	res, _ := ts.serve(t, formVote("vote=b"))
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST / = %d, want 303", res.StatusCode)
	}
	c := cookieNamed(res, voterCookie)
	checkVoterCookie(t, c, false)
	entries := ts.entries(t)
	if len(entries) != 1 || c == nil || entries[0].Values[queue.FieldVoter] != c.Value {
		t.Errorf("entries %v do not carry the issued voter id", entries)
	}
}

func TestVoteForgedCookieNeverReachesQueue(t *testing.T) {
	ts := newTestServer(t)
	forged := strings.Repeat("A", 32)
	res, _ := ts.serve(t, formVote("vote=a", &http.Cookie{Name: voterCookie, Value: forged}))
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST / = %d, want 303", res.StatusCode)
	}
	entries := ts.entries(t)
	if len(entries) != 1 || entries[0].Values[queue.FieldVoter] == forged {
		t.Fatalf("entries = %v: the forged id reached the queue", entries)
	}
	checkVoterCookie(t, cookieNamed(res, voterCookie), false)
}

func TestVoteRejected(t *testing.T) {
	ts := newTestServer(t)
	form := func(contentType, body string) *http.Request {
		req := formVote(body, voterCookieOf(ballot.NewVoterID()))
		req.Header.Set("Content-Type", contentType)
		return req
	}
	const urlencoded = "application/x-www-form-urlencoded"
	tests := []struct {
		name   string
		req    *http.Request
		status int
		reason string
		says   string // part of the page's message
	}{
		{"unknown option", form(urlencoded, "vote=c"), 400, "bad_option", "That is not an option on this ballot. Choose one of: Cats (a), Dogs (b)."},
		{"option label instead of key", form(urlencoded, "vote=Cats"), 400, "bad_option", "not an option"},
		{"no option", form(urlencoded, "other=a"), 400, "bad_option", "No option was chosen."},
		{"empty body", form(urlencoded, ""), 400, "bad_option", "No option was chosen."},
		{"two options", form(urlencoded, "vote=a&vote=b"), 400, "bad_request", "more than one option"},
		{"bad escape", form(urlencoded, "vote=%zz"), 400, "bad_request", "could not be read"},
		{"oversized", form(urlencoded, "vote=a&pad="+strings.Repeat("x", 8<<10)), 413, "too_large", "larger than a vote"},
		{"no content type", form("", "vote=a"), 415, "unsupported_media_type", "application/x-www-form-urlencoded"},
		{"text", form("text/plain", "vote=a"), 415, "unsupported_media_type", "application/x-www-form-urlencoded"},
		{"json", form("application/json", `{"vote":"a"}`), 415, "unsupported_media_type", "application/x-www-form-urlencoded"},
		{"multipart", form("multipart/form-data; boundary=x", "--x--"), 415, "unsupported_media_type", "application/x-www-form-urlencoded"},
		{"cross-site", func() *http.Request {
			r := form(urlencoded, "vote=a")
			r.Header.Set("Sec-Fetch-Site", "cross-site")
			r.Header.Set("Origin", "https://evil.example")
			return r
		}(), 403, "cross_origin", "only taken from this site"},
		{"same-site subdomain", func() *http.Request {
			r := form(urlencoded, "vote=a")
			r.Header.Set("Sec-Fetch-Site", "same-site")
			r.Header.Set("Origin", "http://evil.example.com")
			return r
		}(), 403, "cross_origin", "only taken from this site"},
		{"old browser, other origin", func() *http.Request {
			r := form(urlencoded, "vote=a")
			r.Header.Del("Sec-Fetch-Site")
			r.Header.Set("Origin", "https://evil.example")
			return r
		}(), 403, "cross_origin", "only taken from this site"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			failuresBefore := ts.failures(tt.reason)
			res, body := ts.serve(t, tt.req)
			if res.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d\n%s", res.StatusCode, tt.status, body)
			}
			if ct := res.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
				t.Errorf("Content-Type = %q, want an HTML page", ct)
			}
			if !strings.Contains(body, tt.says) || !strings.Contains(body, `href="/"`) {
				t.Errorf("page does not say %q or link back:\n%s", tt.says, body)
			}
			if cookieNamed(res, choiceCookie) != nil {
				t.Error("a refused vote set the choice cookie")
			}
			if got := ts.failures(tt.reason) - failuresBefore; got != 1 {
				t.Errorf("vote_failures_total{reason=%q} rose by %v, want 1", tt.reason, got)
			}
			if n := len(ts.entries(t)); n != 0 {
				t.Errorf("a refused vote wrote %d stream entries", n)
			}
		})
	}
	if got := testutilCount(ts, "a") + testutilCount(ts, "b"); got != 0 {
		t.Errorf("votes_cast_total = %v after refused votes only", got)
	}
}

// Redis going away must cost votes a clear 503, not the service; when it is back, votes work
// again without a restart.
func TestVoteWhileRedisIsDown(t *testing.T) {
	srv := testkit.StartRedis(t, false)
	ts := newTestServerWith(t, srv.URL(), "votes", defaultOptions(t))
	id := ballot.NewVoterID()

	srv.Stop(t)
	res, body := ts.serve(t, formVote("vote=a", voterCookieOf(id)))
	if res.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("vote with Redis down = %d, want 503", res.StatusCode)
	}
	if res.Header.Get("Retry-After") == "" || !strings.Contains(body, "Your vote may not have been recorded") {
		t.Errorf("503 lacks Retry-After or a clear message: %v\n%s", res.Header, body)
	}
	if cookieNamed(res, choiceCookie) != nil {
		t.Error("a vote that was not recorded set the choice cookie")
	}
	if ts.failures("queue_unavailable") != 1 {
		t.Errorf("vote_failures_total{reason=queue_unavailable} = %v, want 1", ts.failures("queue_unavailable"))
	}
	res, body = ts.serve(t, apiVote(`{"vote":"a"}`, voterCookieOf(id)))
	if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Content-Type") != "application/problem+json" ||
		res.Header.Get("Retry-After") == "" {
		t.Errorf("API vote with Redis down = %d %v\n%s", res.StatusCode, res.Header, body)
	}
	if res, _ := ts.serve(t, httptest.NewRequest(http.MethodGet, "/", nil)); res.StatusCode != http.StatusOK {
		t.Errorf("ballot page with Redis down = %d, want 200", res.StatusCode)
	}

	// Redis comes back empty (no persistence): votes go onto a new inbox at once; the vote service
	// never creates the stream (only a worker does, after setting its floor).
	srv.Start(t)
	deadline := time.Now().Add(20 * time.Second)
	for {
		res, _ := ts.serve(t, formVote("vote=b", voterCookieOf(id)))
		if res.StatusCode == http.StatusSeeOther {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("votes still fail 20s after Redis came back: %d", res.StatusCode)
		}
		time.Sleep(50 * time.Millisecond)
	}
	entries := ts.entries(t)
	if len(entries) != 1 || entries[0].Values[queue.FieldOption] != "b" {
		t.Errorf("after Redis came back the stream has %v, want the one vote for b", entries)
	}
}

func TestAPIVote(t *testing.T) {
	ts := newTestServer(t)
	res, body := ts.serve(t, apiVote(`{"vote":"b"}`))
	if res.StatusCode != http.StatusAccepted || res.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("POST /api/v1/votes = %d %q\n%s", res.StatusCode, res.Header.Get("Content-Type"), body)
	}
	c := cookieNamed(res, voterCookie)
	checkVoterCookie(t, c, false)
	var got struct {
		Vote  string `json:"vote"`
		Voter string `json:"voter"`
	}
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	if got.Vote != "b" || c == nil || got.Voter != c.Value[:8] {
		t.Errorf("response = %+v, want vote b and the first 8 characters of the voter id", got)
	}
	entries := ts.entries(t)
	if len(entries) != 1 || c == nil || entries[0].Values[queue.FieldVoter] != c.Value || entries[0].Values[queue.FieldOption] != "b" {
		t.Errorf("entries = %v", entries)
	}

	// A client that keeps its cookie keeps its identity.
	res, _ = ts.serve(t, apiVote(`{"vote":"a"}`, c))
	if res.StatusCode != http.StatusAccepted || cookieNamed(res, voterCookie) != nil {
		t.Errorf("second vote = %d, voter cookie %v", res.StatusCode, cookieNamed(res, voterCookie))
	}
	if entries := ts.entries(t); len(entries) != 2 || c == nil || entries[1].Values[queue.FieldVoter] != c.Value {
		t.Errorf("entries = %v", entries)
	}
}

func TestAPIVoteRejected(t *testing.T) {
	ts := newTestServer(t)
	withType := func(contentType, body string) *http.Request {
		r := apiVote(body)
		r.Header.Set("Content-Type", contentType)
		return r
	}
	tests := []struct {
		name   string
		req    *http.Request
		status int
		reason string
	}{
		{"unknown option", apiVote(`{"vote":"c"}`), 400, "bad_option"},
		{"no option", apiVote(`{}`), 400, "bad_option"},
		{"unknown field", apiVote(`{"vote":"a","voter":"x"}`), 400, "bad_request"},
		{"two values", apiVote(`{"vote":"a"}{"vote":"b"}`), 400, "bad_request"},
		{"not an object", apiVote(`"a"`), 400, "bad_request"},
		{"wrong type", apiVote(`{"vote":1}`), 400, "bad_request"},
		{"not json", apiVote(`vote=a`), 400, "bad_request"},
		{"oversized", apiVote(`{"vote":"` + strings.Repeat("a", 8<<10) + `"}`), 413, "too_large"},
		{"form content type", withType("application/x-www-form-urlencoded", "vote=a"), 415, "unsupported_media_type"},
		{"text content type", withType("text/plain", `{"vote":"a"}`), 415, "unsupported_media_type"},
		{"cross-site", func() *http.Request {
			r := apiVote(`{"vote":"a"}`)
			r.Header.Set("Sec-Fetch-Site", "cross-site")
			return r
		}(), 403, "cross_origin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			failuresBefore := ts.failures(tt.reason)
			res, body := ts.serve(t, tt.req)
			if res.StatusCode != tt.status || res.Header.Get("Content-Type") != "application/problem+json" {
				t.Fatalf("= %d %q, want %d problem+json\n%s", res.StatusCode, res.Header.Get("Content-Type"), tt.status, body)
			}
			var p struct {
				Type   string `json:"type"`
				Title  string `json:"title"`
				Status int    `json:"status"`
				Detail string `json:"detail"`
			}
			if err := json.Unmarshal([]byte(body), &p); err != nil {
				t.Fatalf("problem is not JSON: %v\n%s", err, body)
			}
			if p.Type != "about:blank" || p.Status != tt.status || p.Title != http.StatusText(tt.status) || p.Detail == "" {
				t.Errorf("problem = %+v", p)
			}
			if got := ts.failures(tt.reason) - failuresBefore; got != 1 {
				t.Errorf("vote_failures_total{reason=%q} rose by %v, want 1", tt.reason, got)
			}
			if n := len(ts.entries(t)); n != 0 {
				t.Errorf("a refused vote wrote %d stream entries", n)
			}
		})
	}
}

func TestAPIOptions(t *testing.T) {
	ts := newTestServer(t)
	res, body := ts.serve(t, httptest.NewRequest(http.MethodGet, "/api/v1/options", nil))
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET /api/v1/options = %d %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
	if want := `{"options":[{"key":"a","label":"Cats"},{"key":"b","label":"Dogs"}]}` + "\n"; body != want {
		t.Errorf("body = %s, want %s", body, want)
	}
}

func TestLabelsAreEscaped(t *testing.T) {
	url, prefix := testkit.Redis(t)
	opts, err := ballot.NewOptions(`<script>alert(1)</script>`, `Tom & "Jerry"`)
	if err != nil {
		t.Fatal(err)
	}
	ts := newTestServerWith(t, url, prefix+"votes", opts)
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.AddCookie(voterCookieOf(ballot.NewVoterID()))
	req.AddCookie(&http.Cookie{Name: choiceCookie, Value: "a"})
	_, body := ts.serve(t, req)
	if strings.Contains(body, "<script") {
		t.Errorf("label reached the page unescaped:\n%s", body)
	}
	for _, want := range []string{
		"&lt;script&gt;alert(1)&lt;/script&gt; or Tom &amp; &#34;Jerry&#34;?",
		"You voted for <strong>&lt;script&gt;alert(1)&lt;/script&gt;</strong>",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q:\n%s", want, body)
		}
	}
}

func TestChoiceCookieOnlyShowsBallotOptions(t *testing.T) {
	ts := newTestServer(t)
	for _, value := range []string{"c", "Cats", "<b>", strings.Repeat("a", 100), ""} {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.AddCookie(voterCookieOf(ballot.NewVoterID()))
		req.Header.Add("Cookie", choiceCookie+"="+value)
		_, body := ts.serve(t, req)
		if strings.Contains(body, "You voted") || strings.Contains(body, "aria-pressed") {
			t.Errorf("choice cookie %q shown as a choice", value)
		}
	}
	// A new voter has voted for nothing yet, whatever an old choice cookie says.
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.AddCookie(&http.Cookie{Name: choiceCookie, Value: "a"})
	_, body := ts.serve(t, req)
	if strings.Contains(body, "You voted") {
		t.Error("choice shown to a visitor without a voter id")
	}
}

func TestStatic(t *testing.T) {
	ts := newTestServer(t)
	_, page := ts.serve(t, httptest.NewRequest(http.MethodGet, "/", nil))
	css := regexp.MustCompile(`href="(/static/style\.[0-9a-f]{12}\.css)"`).FindStringSubmatch(page)
	icon := regexp.MustCompile(`href="(/static/favicon\.[0-9a-f]{12}\.svg)"`).FindStringSubmatch(page)
	if css == nil || icon == nil {
		t.Fatalf("page links no hashed stylesheet or icon:\n%s", page)
	}
	tests := []struct {
		path, contentType, cacheControl string
		status                          int
	}{
		{css[1], "text/css; charset=utf-8", "public, max-age=31536000, immutable", 200},
		{icon[1], "image/svg+xml", "public, max-age=31536000, immutable", 200},
		// Another build's hash (a rolling update): the current file, not cached for long.
		{"/static/style.000000000000.css", "text/css; charset=utf-8", "no-cache", 200},
		{"/static/style.css", "application/problem+json", "no-store", 404},
		{"/static/missing.000000000000.css", "application/problem+json", "no-store", 404},
		{"/static/..%2fballot.html", "application/problem+json", "no-store", 404},
	}
	for _, tt := range tests {
		res, body := ts.serve(t, httptest.NewRequest(http.MethodGet, tt.path, nil))
		if res.StatusCode != tt.status || res.Header.Get("Content-Type") != tt.contentType ||
			res.Header.Get("Cache-Control") != tt.cacheControl {
			t.Errorf("GET %s = %d %q %q, want %d %q %q", tt.path, res.StatusCode,
				res.Header.Get("Content-Type"), res.Header.Get("Cache-Control"), tt.status, tt.contentType, tt.cacheControl)
		}
		if tt.status == 200 && len(body) == 0 {
			t.Errorf("GET %s: empty body", tt.path)
		}
	}

	// A cached copy is revalidated by its ETag.
	req := httptest.NewRequest(http.MethodGet, css[1], nil)
	res, _ := ts.serve(t, req)
	req = httptest.NewRequest(http.MethodGet, css[1], nil)
	req.Header.Set("If-None-Match", res.Header.Get("ETag"))
	if res, _ := ts.serve(t, req); res.StatusCode != http.StatusNotModified {
		t.Errorf("conditional GET = %d, want 304", res.StatusCode)
	}
}

func TestNotFoundAndMethod(t *testing.T) {
	ts := newTestServer(t)
	res, body := ts.serve(t, httptest.NewRequest(http.MethodGet, "/nope", nil))
	if res.StatusCode != 404 || !strings.Contains(body, "Page not found") {
		t.Errorf("GET /nope = %d\n%s", res.StatusCode, body)
	}
	res, _ = ts.serve(t, httptest.NewRequest(http.MethodGet, "/api/v1/nope", nil))
	if res.StatusCode != 404 || res.Header.Get("Content-Type") != "application/problem+json" {
		t.Errorf("GET /api/v1/nope = %d %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
	// HEAD wherever GET: the same status and type.
	for _, path := range []string{"/", "/api/v1/options", "/nope"} {
		get, _ := ts.serve(t, httptest.NewRequest(http.MethodGet, path, nil))
		head, _ := ts.serve(t, httptest.NewRequest(http.MethodHead, path, nil))
		if head.StatusCode != get.StatusCode || head.Header.Get("Content-Type") != get.Header.Get("Content-Type") {
			t.Errorf("HEAD %s = %d %q, GET = %d %q", path, head.StatusCode, head.Header.Get("Content-Type"), get.StatusCode, get.Header.Get("Content-Type"))
		}
	}
	res, _ = ts.serve(t, httptest.NewRequest(http.MethodDelete, "/", nil))
	if res.StatusCode != http.StatusMethodNotAllowed || !strings.Contains(strings.Join(res.Header.Values("Allow"), ","), "POST") {
		t.Errorf("DELETE / = %d Allow %v", res.StatusCode, res.Header.Values("Allow"))
	}
}

func TestSecurityHeadersOnEveryResponse(t *testing.T) {
	ts := newTestServer(t)
	for _, req := range []*http.Request{
		httptest.NewRequest(http.MethodGet, "/", nil),
		httptest.NewRequest(http.MethodGet, "/nope", nil),
		httptest.NewRequest(http.MethodGet, "/api/v1/options", nil),
		httptest.NewRequest(http.MethodDelete, "/", nil),
		formVote("vote=a"),
		formVote("vote=c"),
		apiVote(`{"vote":"a"}`),
	} {
		res, _ := ts.serve(t, req)
		h := res.Header
		if h.Get("Content-Security-Policy") != "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'" ||
			h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") != "same-origin" || h.Get("Cross-Origin-Opener-Policy") != "same-origin" {
			t.Errorf("%s %s (%d): security headers %v", req.Method, req.URL, res.StatusCode, h)
		}
	}
}
