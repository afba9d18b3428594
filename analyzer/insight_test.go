package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-voting-app/voting-app/analyzer/llm"
	"github.com/go-voting-app/voting-app/platform/ballot"
	"github.com/go-voting-app/voting-app/platform/postgres/migrations"
	"github.com/go-voting-app/voting-app/testkit"
	"github.com/prometheus/client_golang/prometheus"
)

type insightBody struct {
	Narrative      string  `json:"narrative"`
	Source         string  `json:"source"`
	FallbackReason string  `json:"fallback_reason"`
	Figures        figures `json:"figures"`
}

// fakeModel is a local stand-in for an OpenAI-compatible server: the one fake in these tests,
// because the real thing is an external service whose failures must be produced on demand. It
// keeps every request body it receives.
type fakeModel struct {
	srv    *httptest.Server
	calls  atomic.Int64
	mu     sync.Mutex
	bodies []string
}

func newFakeModel(t *testing.T, reply http.HandlerFunc) *fakeModel {
	t.Helper()
	f := &fakeModel{}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.calls.Add(1)
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.bodies = append(f.bodies, string(b))
		f.mu.Unlock()
		reply(w, r)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeModel) client(timeout time.Duration) *llm.Client {
	return f.clientOn(prometheus.NewRegistry(), timeout)
}

// clientOn is a client whose metrics are registered on reg.
func (f *fakeModel) clientOn(reg prometheus.Registerer, timeout time.Duration) *llm.Client {
	cfg := llm.Config{BaseURL: f.srv.URL + "/v1", Model: "fake", Timeout: timeout, MaxResponseBytes: 64 << 10, MaxTextChars: 2000}
	return llm.New(cfg, http.DefaultTransport, llm.NewMetrics(reg))
}

// userMessages returns the user message of every request received, in order.
func (f *fakeModel) userMessages(t *testing.T) []string {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, b := range f.bodies {
		var req struct {
			Messages []struct{ Role, Content string } `json:"messages"`
		}
		if err := json.Unmarshal([]byte(b), &req); err != nil || len(req.Messages) != 2 || req.Messages[1].Role != "user" {
			t.Fatalf("request %s: %v", b, err)
		}
		out = append(out, req.Messages[1].Content)
	}
	return out
}

func reply(text string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"choices": []any{map[string]any{
			"index": 0, "message": map[string]any{"role": "assistant", "content": text}}}})
	}
}

// gate holds the fake model's answers until it is opened, and tells each call's arrival.
type gate struct {
	arrived chan struct{}
	open    chan struct{}
}

func newGate() *gate { return &gate{arrived: make(chan struct{}, 1024), open: make(chan struct{})} }

// reply answers text once the gate is open.
func (g *gate) reply(text string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		g.arrived <- struct{}{}
		select {
		case <-g.open:
			reply(text)(w, r)
		case <-r.Context().Done():
		}
	}
}

// waitCall waits for the next call to arrive at the model.
func (g *gate) waitCall(t *testing.T) {
	t.Helper()
	select {
	case <-g.arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("no call reached the model within 10s")
	}
}

// seed casts 81 votes for Cats and 182 for Dogs an hour ago, and lets two known voters flip.
func seed(a *analyzer, voters ...string) {
	a.castMany("a", 81, a.now.Add(-time.Hour))
	a.castMany("b", 182, a.now.Add(-time.Hour))
	for _, v := range voters {
		for i, opt := range []string{"a", "b", "a", "b"} {
			a.cast(opt, a.now.Add(time.Duration(i-30)*time.Minute), v)
		}
	}
}

func TestInsightFromRules(t *testing.T) {
	a := newAnalyzer(t, setup{})
	seed(a)
	in := getJSON[insightBody](a, "/api/v1/insight")
	if in.Source != "rules" || in.FallbackReason != "" {
		t.Errorf("source %q reason %q", in.Source, in.FallbackReason)
	}
	if !strings.HasPrefix(in.Narrative, "Dogs leads Cats by 69.2% to 30.8% of 263 votes") {
		t.Errorf("narrative %q", in.Narrative)
	}
	if in.Figures.TotalVotes != 263 || in.Figures.Leader == nil || *in.Figures.Leader != "b" || !in.Figures.Significant {
		t.Errorf("figures %+v", in.Figures)
	}
}

func TestInsightFromModelSendsFiguresOnly(t *testing.T) {
	model := newFakeModel(t, reply("Dogs are well ahead of Cats.\n\nNothing odd happened."))
	a := newAnalyzer(t, setup{model: model.client(5 * time.Second), ttl: time.Minute})
	voters := []string{string(ballot.NewVoterID()), string(ballot.NewVoterID()), "legacy-voter-0123456789"}
	seed(a, voters...)

	in := getJSON[insightBody](a, "/api/v1/insight")
	if in.Source != "llm" || in.FallbackReason != "" || in.Narrative != "Dogs are well ahead of Cats. Nothing odd happened." {
		t.Fatalf("%+v", in)
	}
	if in.Figures.VoteChangers != 3 {
		t.Errorf("figures count %d vote changers, want 3", in.Figures.VoteChangers)
	}
	if model.calls.Load() != 1 {
		t.Fatalf("%d calls to the model", model.calls.Load())
	}
	sent := model.bodies[0]
	for _, v := range voters {
		if strings.Contains(sent, v) || strings.Contains(sent, strings.TrimSuffix(ballot.Redact(v), "…")) {
			t.Errorf("the request to the model holds voter id %s (or its prefix): %s", v, sent)
		}
	}
	var req struct {
		Model    string `json:"model"`
		Messages []struct {
			Role, Content string
		} `json:"messages"`
	}
	if err := json.Unmarshal([]byte(sent), &req); err != nil || req.Model != "fake" || len(req.Messages) != 2 {
		t.Fatalf("request %s: %v", sent, err)
	}
	// The model reads the view, never the exact figures: 266 votes, of which 30.45% for Cats, are
	// "200 to 499" and 30%.
	user := req.Messages[1].Content
	var v view
	if err := json.Unmarshal([]byte(user), &v); err != nil || !reflect.DeepEqual(v, newView(in.Figures)) {
		t.Errorf("user message is not the view of the figures: %q", user)
	}
	if v.TotalVotes != (countRange{200, 499}) || v.Options[0].SharePercent != 30 || v.VoteChangers != (countRange{2, 4}) {
		t.Errorf("view %+v", v)
	}
	for _, exact := range []string{"266", "0.3045", "185"} {
		if strings.Contains(user, exact) {
			t.Errorf("user message holds the exact figure %s: %s", exact, user)
		}
	}
}

func TestInsightFallsBackToRules(t *testing.T) {
	tests := []struct {
		name   string
		reply  http.HandlerFunc
		reason string
	}{
		{"server error", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusBadGateway) }, "llm_http_status"},
		{"garbage", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "{choices: oops") }, "llm_bad_response"},
		{"empty choices", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{"choices":[]}`) }, "llm_bad_response"},
		{"over-long answer", reply(strings.Repeat("blah ", 1000)), "llm_too_large"},
		{"timeout", func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }, "llm_timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			model := newFakeModel(t, tt.reply)
			a := newAnalyzer(t, setup{model: model.client(300 * time.Millisecond), ttl: time.Minute})
			seed(a)
			in := getJSON[insightBody](a, "/api/v1/insight")
			if in.Source != "rules" || in.FallbackReason != tt.reason || !strings.HasPrefix(in.Narrative, "Dogs leads Cats") {
				t.Errorf("%+v", in)
			}
			// The failure is cached like an answer: a broken model is not asked again at once.
			again := getJSON[insightBody](a, "/api/v1/insight")
			if again.FallbackReason != tt.reason || model.calls.Load() != 1 {
				t.Errorf("second insight %+v after %d calls", again, model.calls.Load())
			}
			// The second request, same data, same moment, is answered whole from the API's own
			// cache (answers.go) and never reaches the insight.
			if n := a.counter("analyzer_insights_total", map[string]string{"source": "rules", "reason": tt.reason}); n != 1 {
				t.Errorf("analyzer_insights_total{source=rules,reason=%s} = %v, want 1", tt.reason, n)
			}
		})
	}
}

// counter reads a counter of the analyzer's registry by name and labels, 0 when it has no such series.
func (a *analyzer) counter(name string, labels map[string]string) float64 {
	a.t.Helper()
	return counterIn(a.t, a.reg, name, labels)
}

func counterIn(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		found = true
	series:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if have[k] != v {
					continue series
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	if !found {
		t.Errorf("no metric %s in the registry", name)
	}
	return 0
}

// The model is asked again only when the view changes: votes that move no share by a point, or
// time passing, reuse the narrative; a share moving a point, the lead flipping or the recent votes
// coming and going ask again. Each step checks that its scenario does (or does not) change the view,
// then counts the calls that reached the model.
func TestInsightAsksAgainOnlyWhenTheViewChanges(t *testing.T) {
	var answers atomic.Int64
	model := newFakeModel(t, func(w http.ResponseWriter, r *http.Request) {
		reply(fmt.Sprintf("Summary %d.", answers.Add(1)))(w, r)
	})
	a := newAnalyzer(t, setup{model: model.client(5 * time.Second), ttl: time.Minute})
	seed(a) // 81 for Cats and 182 for Dogs, an hour ago
	first := getJSON[insightBody](a, "/api/v1/insight")
	if first.Source != "llm" || first.Narrative != "Summary 1." || model.calls.Load() != 1 {
		t.Fatalf("first insight %+v after %d calls", first, model.calls.Load())
	}
	steps := []struct {
		name    string
		change  func()
		newView bool
	}{
		{"a vote that moves no share by a point", func() { a.castMany("b", 1, a.now.Add(-time.Hour)) }, false},
		{"two minutes pass", func() { a.now = a.now.Add(2 * time.Minute) }, false},
		{"Cats' share drops to 30%", func() { a.castMany("b", 3, a.now.Add(-time.Hour)) }, true},
		{"the lead flips", func() { a.castMany("a", 200, a.now.Add(-time.Hour)) }, true},
		{"votes in the last 5 minutes", func() {
			a.castMany("a", 30, a.now.Add(-time.Minute))
			a.castMany("b", 10, a.now.Add(-time.Minute))
			a.castMany("a", 2, a.now.Add(-4*time.Minute-50*time.Second))
		}, true},
		// 32 of 43 recent votes for Cats: 74% where it was 76%, 75% either way.
		{"one more recent vote, shares unmoved", func() { a.castMany("b", 1, a.now.Add(-time.Minute)) }, false},
		// The window slides past two votes: 30 of 41, 73%, still 75%.
		{"30 seconds pass, two recent votes leave the window", func() { a.now = a.now.Add(30 * time.Second) }, false},
		{"the recent votes leave the window", func() { a.now = a.now.Add(10 * time.Minute) }, true},
	}
	prev, calls := first, int64(1)
	for _, st := range steps {
		st.change()
		in := getJSON[insightBody](a, "/api/v1/insight")
		if changed := !reflect.DeepEqual(newView(prev.Figures), newView(in.Figures)); changed != st.newView {
			t.Fatalf("%s: the view changed = %v, want %v (newView or the scenario is wrong)\nbefore %+v\nafter  %+v",
				st.name, changed, st.newView, newView(prev.Figures), newView(in.Figures))
		}
		if st.newView {
			calls++
		}
		switch {
		case model.calls.Load() != calls:
			t.Errorf("%s: %d calls to the model, want %d", st.name, model.calls.Load(), calls)
		case in.Source != "llm" || in.Narrative != fmt.Sprintf("Summary %d.", calls):
			t.Errorf("%s: insight %q from %s, want Summary %d.", st.name, in.Narrative, in.Source, calls)
		}
		prev = in
	}
	if in := prev; in.Figures.TotalVotes != 81+186+200+43 {
		t.Errorf("the figures served are not exact: %d votes", in.Figures.TotalVotes)
	}
	if n := a.counter("analyzer_insight_cache_hits_total", nil); n != 4 {
		t.Errorf("analyzer_insight_cache_hits_total = %v, want 4", n)
	}
}

// testClock is a clock the test moves.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *testClock) add(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }

// direct is insights over a fake model, asked without HTTP or a database, on a clock the test moves.
type direct struct {
	*insights
	reg   *prometheus.Registry
	clock *testClock
}

func newDirect(t *testing.T, model *fakeModel, cfg insightConfig) direct {
	t.Helper()
	reg := prometheus.NewRegistry()
	clock := &testClock{t: time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)}
	return direct{newInsights(quiet, model.clientOn(reg, 5*time.Second), cfg, clock.now, reg), reg, clock}
}

func (d direct) ask(f figures) narrative { return d.narrate(context.Background(), f) }

func (d direct) counter(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	return counterIn(t, d.reg, name, labels)
}

// figuresOf are the figures of votes for Cats and Dogs, of which recentCats and recentDogs in the
// momentum window, with nothing unusual.
func figuresOf(cats, dogs, recentCats, recentDogs int64) figures {
	opts, err := ballot.NewOptions("Cats", "Dogs")
	if err != nil {
		panic(err)
	}
	s := summarize(opts, map[string]int64{"a": cats, "b": dogs})
	m := momentum{RecentTotal: recentCats + recentDogs, Options: make([]optionMomentum, len(opts))}
	for i, recent := range []int64{recentCats, recentDogs} {
		m.Options[i] = optionMomentum{Option: opts[i], RecentVotes: recent}
		if m.RecentTotal > 0 {
			shift := float64(recent)/float64(m.RecentTotal) - s.Options[i].Share
			m.Options[i].Shift = &shift
		}
	}
	return newFigures(s, m, anomalies{}, insightMomentumWindow, defaultAnomalies().Window)
}

// Concurrent questions about one view share one call, whatever their exact figures: a crowd of
// dashboards refreshing while votes arrive costs the model one call.
func TestInsightOneCallPerView(t *testing.T) {
	g := newGate()
	model := newFakeModel(t, g.reply("Dogs lead."))
	d := newDirect(t, model, insightConfig{CacheTTL: time.Minute, MaxInflight: 64, MaxCallsPerMinute: 1000})
	const n = 32
	got := make([]narrative, n)
	var wg sync.WaitGroup
	for i := range n {
		// 81 for Cats and 182 to 184 for Dogs: one view, 31% to 69% of 200 to 499 votes.
		wg.Go(func() { got[i] = d.ask(figuresOf(81, 182+int64(i%3), 0, 0)) })
	}
	g.waitCall(t)
	// Time for a broken single flight to show its extra calls before the first one returns.
	time.Sleep(200 * time.Millisecond)
	close(g.open)
	wg.Wait()
	if c := model.calls.Load(); c != 1 {
		t.Fatalf("%d concurrent questions about one view made %d calls, want 1", n, c)
	}
	for i, nr := range got {
		if nr != (narrative{Text: "Dogs lead.", Source: sourceLLM}) {
			t.Errorf("question %d: %+v", i, nr)
		}
	}
	// Later questions about the view find it cached.
	if nr := d.ask(figuresOf(81, 184, 0, 0)); nr.Source != sourceLLM || model.calls.Load() != 1 {
		t.Errorf("a later question: %+v after %d calls", nr, model.calls.Load())
	}
	if c := d.counter(t, "analyzer_llm_calls_total", map[string]string{"outcome": "ok"}); c != 1 {
		t.Errorf("analyzer_llm_calls_total{outcome=ok} = %v, want 1", c)
	}
	if h := d.counter(t, "analyzer_insight_cache_hits_total", nil); h != n {
		t.Errorf("analyzer_insight_cache_hits_total = %v, want %d (every question but the one that called)", h, n)
	}
}

// A burst of questions beyond the budget makes exactly the budget's calls; the others are answered
// by the rules, counted as refused, and not cached, so that once the minute has passed they are
// asked again.
func TestInsightBudget(t *testing.T) {
	model := newFakeModel(t, reply("A summary."))
	d := newDirect(t, model, insightConfig{CacheTTL: time.Hour, MaxInflight: 64, MaxCallsPerMinute: 3})
	questions := make([]figures, 10)
	for i := range questions {
		questions[i] = figuresOf(10*int64(i+1), 100, 0, 0) // ten views: Cats' share differs
	}
	got := make([]narrative, len(questions))
	var wg sync.WaitGroup
	for i, f := range questions {
		wg.Go(func() { got[i] = d.ask(f) })
	}
	wg.Wait()
	var answered, refused []int
	for i, nr := range got {
		switch {
		case nr.Source == sourceLLM && nr.Reason == "":
			answered = append(answered, i)
		case nr == narrative{Text: narrate(questions[i]), Source: sourceRules, Reason: "llm_budget"}:
			refused = append(refused, i)
		default:
			t.Errorf("question %d: %+v", i, nr)
		}
	}
	if len(answered) != 3 || len(refused) != 7 || model.calls.Load() != 3 {
		t.Fatalf("a burst of 10 on a budget of 3: %d answered by the model, %d refused, %d calls", len(answered), len(refused), model.calls.Load())
	}
	wantRefused := func(n float64) {
		t.Helper()
		if c := d.counter(t, "analyzer_llm_refused_total", map[string]string{"reason": "budget"}); c != n {
			t.Errorf("analyzer_llm_refused_total{reason=budget} = %v, want %v", c, n)
		}
	}
	wantRefused(7)

	// Half a minute later the three calls still fill the minute.
	d.clock.add(30 * time.Second)
	if nr := d.ask(questions[refused[0]]); nr.Reason != "llm_budget" || model.calls.Load() != 3 {
		t.Errorf("30s later: %+v after %d calls", nr, model.calls.Load())
	}
	wantRefused(8)

	// A minute after the burst there are three calls again. The answers are cached, the refusals
	// were not: the first three refused are answered now, the others refused again.
	d.clock.add(30 * time.Second)
	for _, i := range answered {
		if nr := d.ask(questions[i]); nr.Source != sourceLLM {
			t.Errorf("answered question %d asked again: %+v", i, nr)
		}
	}
	for k, i := range refused {
		nr := d.ask(questions[i])
		if want := k < 3; (nr.Source == sourceLLM) != want {
			t.Errorf("refused question %d asked again (%d of 7): %+v, want an answer from the model = %v", i, k+1, nr, want)
		}
	}
	if c := model.calls.Load(); c != 6 {
		t.Errorf("%d calls, want 6", c)
	}
	wantRefused(12)
	if c := d.counter(t, "analyzer_llm_calls_total", map[string]string{"outcome": "ok"}); c != 6 {
		t.Errorf("analyzer_llm_calls_total{outcome=ok} = %v, want 6", c)
	}
	// 21 questions: 6 calls, 12 refusals, and the 3 answers found in the cache.
	if h := d.counter(t, "analyzer_insight_cache_hits_total", nil); h != 3 {
		t.Errorf("analyzer_insight_cache_hits_total = %v, want 3", h)
	}
}

// With every slot taken, a question about another view is answered by the rules at once and
// counted as refused; it spends none of the budget and is not cached.
func TestInsightBusy(t *testing.T) {
	g := newGate()
	model := newFakeModel(t, g.reply("Busy day."))
	d := newDirect(t, model, insightConfig{CacheTTL: time.Hour, MaxInflight: 1, MaxCallsPerMinute: 2})
	first, second, third := figuresOf(81, 182, 0, 0), figuresOf(182, 81, 0, 0), figuresOf(100, 100, 0, 0)
	done := make(chan narrative)
	go func() { done <- d.ask(first) }()
	g.waitCall(t)
	if nr := d.ask(second); nr != (narrative{Text: narrate(second), Source: sourceRules, Reason: "llm_busy"}) {
		t.Errorf("while the slot is taken: %+v", nr)
	}
	if c := d.counter(t, "analyzer_llm_refused_total", map[string]string{"reason": "busy"}); c != 1 {
		t.Errorf("analyzer_llm_refused_total{reason=busy} = %v, want 1", c)
	}
	close(g.open)
	if nr := <-done; nr.Source != sourceLLM {
		t.Errorf("the question in flight: %+v", nr)
	}
	if nr := d.ask(second); nr.Source != sourceLLM || model.calls.Load() != 2 {
		t.Errorf("the busy question asked again: %+v after %d calls, want the model's second call", nr, model.calls.Load())
	}
	if nr := d.ask(third); nr.Reason != "llm_budget" || model.calls.Load() != 2 {
		t.Errorf("a third view on a budget of 2: %+v after %d calls", nr, model.calls.Load())
	}
}

// A failed call is cached for its view, but the rules that answer in its place write from each
// question's own figures, which the response carries: the narrative never contradicts them.
func TestInsightFailureAnswersFromEachQuestionsFigures(t *testing.T) {
	model := newFakeModel(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusBadGateway) })
	d := newDirect(t, model, insightConfig{CacheTTL: time.Hour, MaxInflight: 2, MaxCallsPerMinute: 1000})
	for _, f := range []figures{figuresOf(81, 182, 0, 0), figuresOf(81, 183, 0, 0)} {
		nr := d.ask(f)
		if want := (narrative{Text: narrate(f), Source: sourceRules, Reason: "llm_http_status"}); nr != want {
			t.Errorf("%d votes: %+v, want %+v", f.TotalVotes, nr, want)
		}
		if votes := fmt.Sprintf("of %d votes", f.TotalVotes); !strings.Contains(nr.Text, votes) {
			t.Errorf("%d votes: narrative %q does not say %q", f.TotalVotes, nr.Text, votes)
		}
	}
	if c := model.calls.Load(); c != 1 {
		t.Errorf("%d calls for one view, want 1", c)
	}
	if c := d.counter(t, "analyzer_llm_calls_total", map[string]string{"outcome": "http_status"}); c != 1 {
		t.Errorf("analyzer_llm_calls_total{outcome=http_status} = %v, want 1", c)
	}
}

// The whole program with a model configured: LLM_MAX_CALLS_PER_MINUTE reaches the insights, and
// the calls and refusals show on the ops port's /metrics.
func TestRunSpendsTheBudget(t *testing.T) {
	model := newFakeModel(t, reply("From the model."))
	dbURL := testkit.Postgres(t)
	owner := openPool(t, dbURL)
	if err := migrations.Up(context.Background(), owner, quiet); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"DATABASE_URL":             readOnlyRole(t, owner, dbURL),
		"HTTP_ADDR":                "127.0.0.1:0",
		"OPS_ADDR":                 "127.0.0.1:0",
		"LLM_BASE_URL":             model.srv.URL + "/v1",
		"LLM_MODEL":                "fake",
		"LLM_MAX_CALLS_PER_MINUTE": "1",
	}
	ctx, cancel := context.WithCancel(context.Background())
	logs := &testkit.Logs{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"analyzer"}, func(k string) string { return env[k] }, logs, logs) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	api, ops := "http://"+logs.WaitAddr(t, "http"), "http://"+logs.WaitAddr(t, "ops")
	waitReady(t, ops+"/readyz")

	w := &analyzer{t: t, owner: owner}
	insight := func() insightBody {
		t.Helper()
		code, body := fetch(t, api+"/api/v1/insight")
		var in insightBody
		if err := json.Unmarshal([]byte(body), &in); code != http.StatusOK || err != nil {
			t.Fatalf("insight: %d %s", code, body)
		}
		return in
	}
	w.castMany("a", 3, time.Now().Add(-time.Hour))
	if in := insight(); in.Source != "llm" || in.Narrative != "From the model." {
		t.Errorf("first insight: %+v", in)
	}
	w.castMany("b", 5, time.Now().Add(-time.Hour)) // the lead flips: a new view
	// The API's own cache answers from the data version it read last, for up to 250 ms.
	in := insight()
	for deadline := time.Now().Add(10 * time.Second); in.Figures.TotalVotes != 8 && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		in = insight()
	}
	if in.Source != "rules" || in.FallbackReason != "llm_budget" || !strings.HasPrefix(in.Narrative, "Dogs leads Cats") {
		t.Errorf("second view within the minute: %+v", in)
	}
	if n := model.calls.Load(); n != 1 {
		t.Errorf("%d calls on a budget of 1 a minute", n)
	}
	_, metrics := fetch(t, ops+"/metrics")
	for _, want := range []string{
		`analyzer_llm_calls_total{outcome="ok"} 1`,
		`analyzer_llm_refused_total{reason="budget"} 1`,
		`analyzer_llm_refused_total{reason="busy"} 0`,
		`analyzer_insights_total{reason="llm_budget",source="rules"} 1`,
		`analyzer_insights_total{reason="none",source="llm"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
