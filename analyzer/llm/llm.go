// Package llm is a small client for an OpenAI-compatible chat completions endpoint: one POST to
// {base}/chat/completions with a system and a user message, bounded in time and in the size of
// what it reads back. Every failure is an *Error with an Outcome, so callers can fall back and say
// why, and metrics can count calls by outcome.
package llm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-voting-app/voting-app/platform/config"
	"github.com/prometheus/client_golang/prometheus"
)

// Config says where the model is. The client is enabled when BaseURL is set.
type Config struct {
	BaseURL string        // LLM_BASE_URL, e.g. http://llm:8000/v1 (…/chat/completions is appended)
	Model   string        // LLM_MODEL
	APIKey  config.Secret // LLM_API_KEY or LLM_API_KEY_FILE; sent as a bearer token when set
	Timeout time.Duration // LLM_TIMEOUT: the whole call, connect to last byte
	// MaxResponseBytes bounds the HTTP body read; a larger body is a failure, not a truncation.
	MaxResponseBytes int64
	// MaxTextChars bounds the model's answer; a longer one is a failure.
	MaxTextChars int
}

// Enabled reports whether a model is configured.
func (c Config) Enabled() bool { return c.BaseURL != "" }

// ConfigFromEnv reads LLM_BASE_URL, LLM_MODEL, LLM_API_KEY(_FILE) and LLM_TIMEOUT.
func ConfigFromEnv(env *config.Env) Config {
	c := Config{
		BaseURL:          strings.TrimRight(env.String("LLM_BASE_URL", ""), "/"),
		Model:            env.String("LLM_MODEL", ""),
		APIKey:           env.Secret("LLM_API_KEY"),
		Timeout:          env.Duration("LLM_TIMEOUT", 10*time.Second, 100*time.Millisecond, time.Minute),
		MaxResponseBytes: 1 << 20,
		MaxTextChars:     2000,
	}
	return c
}

// Validate checks what config.Env cannot: that the URL is one, and that a model is named. A typo
// then stops the service at start instead of failing every insight.
func (c Config) Validate() error {
	if !c.Enabled() {
		return nil
	}
	var errs []error
	u, err := url.Parse(c.BaseURL)
	// No credentials and no query: the key belongs in LLM_API_KEY(_FILE), where it stays out of logs.
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		errs = append(errs, errors.New("LLM_BASE_URL: want an http:// or https:// URL without credentials or query, such as http://llm:8000/v1"))
	}
	if c.Model == "" {
		errs = append(errs, errors.New("LLM_MODEL: required when LLM_BASE_URL is set"))
	}
	return errors.Join(errs...)
}

// Outcomes of a call, used as metric labels and, prefixed with "llm_", as the reason of a fallback.
const (
	OutcomeOK          = "ok"
	OutcomeTimeout     = "timeout"      // no complete answer within Timeout
	OutcomeUnreachable = "unreachable"  // connection refused, DNS, TLS…
	OutcomeHTTPStatus  = "http_status"  // answered, but not 2xx
	OutcomeBadResponse = "bad_response" // not the chat completions shape, or no text in it
	OutcomeTooLarge    = "too_large"    // body over MaxResponseBytes or text over MaxTextChars
)

// Error is a failed call.
type Error struct {
	Outcome string
	Err     error
}

func (e *Error) Error() string { return "llm " + e.Outcome + ": " + e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Metrics count calls by outcome and time them. A call is one request sent to the model; a
// question its caller decided not to send (busy, over budget) is no call and is counted by the caller.
type Metrics struct {
	calls    *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// NewMetrics registers the LLM metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "analyzer_llm_calls_total",
			Help: "Chat completion calls to the model by outcome (ok, timeout, unreachable, http_status, bad_response, too_large).",
		}, []string{"outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "analyzer_llm_call_duration_seconds",
			Help:    "Chat completion call latency by outcome.",
			Buckets: []float64{.05, .1, .25, .5, 1, 2, 4, 8, 15, 30, 60},
		}, []string{"outcome"}),
	}
	reg.MustRegister(m.calls, m.duration)
	// Every outcome exists from the start at 0, so a rate over the first failure is not lost to a
	// series that did not exist before it.
	for _, o := range []string{OutcomeOK, OutcomeTimeout, OutcomeUnreachable, OutcomeHTTPStatus, OutcomeBadResponse, OutcomeTooLarge} {
		m.calls.WithLabelValues(o)
	}
	return m
}

// Client calls the model.
type Client struct {
	cfg     Config
	http    *http.Client
	metrics *Metrics
}

// New returns a client. It never follows redirects: a redirected POST is a misconfiguration, and
// the API key must not travel to wherever it points.
func New(cfg Config, transport http.RoundTripper, m *Metrics) *Client {
	return &Client{
		cfg: cfg,
		http: &http.Client{
			Transport:     transport,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		metrics: m,
	}
}

// Model returns the configured model name.
func (c *Client) Model() string { return c.cfg.Model }

// Complete sends one system and one user message and returns the model's answer with its
// whitespace collapsed into one paragraph.
func (c *Client) Complete(ctx context.Context, system, user string) (string, error) {
	start := time.Now()
	text, err := c.complete(ctx, system, user)
	outcome := OutcomeOK
	if e, ok := errors.AsType[*Error](err); ok {
		outcome = e.Outcome
	}
	c.metrics.calls.WithLabelValues(outcome).Inc()
	c.metrics.duration.WithLabelValues(outcome).Observe(time.Since(start).Seconds())
	return text, err
}

type message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

type chatRequest struct {
	Model       string    `json:"model"`
	Messages    []message `json:"messages"`
	Temperature float64   `json:"temperature"`
	MaxTokens   int       `json:"max_tokens"`
}

type chatResponse struct {
	Choices []struct {
		Message struct {
			Content *string `json:"content"`
		} `json:"message"`
	} `json:"choices"`
}

func (c *Client) complete(ctx context.Context, system, user string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	body, err := json.Marshal(chatRequest{
		Model:       c.cfg.Model,
		Messages:    []message{{"system", system}, {"user", user}},
		Temperature: 0.2,
		MaxTokens:   400,
	})
	if err != nil {
		return "", &Error{OutcomeBadResponse, err}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.cfg.BaseURL+"/chat/completions", bytes.NewReader(body))
	if err != nil {
		return "", &Error{OutcomeUnreachable, err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if c.cfg.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+c.cfg.APIKey.Reveal())
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return "", classify(ctx, err)
	}
	defer resp.Body.Close()
	// One byte over the limit tells a body that is too large from one that fits exactly.
	raw, err := io.ReadAll(io.LimitReader(resp.Body, c.cfg.MaxResponseBytes+1))
	if err != nil {
		return "", classify(ctx, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return "", &Error{OutcomeHTTPStatus, fmt.Errorf("status %d", resp.StatusCode)}
	}
	if int64(len(raw)) > c.cfg.MaxResponseBytes {
		return "", &Error{OutcomeTooLarge, fmt.Errorf("response body over %d bytes", c.cfg.MaxResponseBytes)}
	}
	var cr chatResponse
	if err := json.Unmarshal(raw, &cr); err != nil {
		return "", &Error{OutcomeBadResponse, errors.New("response is not chat completions JSON")}
	}
	if len(cr.Choices) == 0 || cr.Choices[0].Message.Content == nil {
		return "", &Error{OutcomeBadResponse, errors.New("response has no choices")}
	}
	text := strings.Join(strings.Fields(*cr.Choices[0].Message.Content), " ")
	switch {
	case text == "":
		return "", &Error{OutcomeBadResponse, errors.New("answer is empty")}
	case !utf8.ValidString(text):
		return "", &Error{OutcomeBadResponse, errors.New("answer is not valid UTF-8")}
	case utf8.RuneCountInString(text) > c.cfg.MaxTextChars:
		return "", &Error{OutcomeTooLarge, fmt.Errorf("answer over %d characters", c.cfg.MaxTextChars)}
	}
	return text, nil
}

// classify tells our own deadline from a network failure. The error text of net/http can hold the
// URL; it stays in the wrapped error, which is logged, never shown to clients.
func classify(ctx context.Context, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
		return &Error{OutcomeTimeout, err}
	}
	return &Error{OutcomeUnreachable, err}
}
