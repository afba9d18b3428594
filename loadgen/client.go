package main

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/go-voting-app/voting-app/loadgen/internal/ledger"
	"github.com/go-voting-app/voting-app/loadgen/internal/target"
	"github.com/go-voting-app/voting-app/platform/ballot"
	"github.com/go-voting-app/voting-app/platform/buildinfo"
)

// voterCookie is the vote service's cookie that names the voter.
const voterCookie = "voter_id"

// maxDrain bounds how much of a response body is read (to reuse the connection) before giving up
// on it: a vote's answer is a redirect or a small JSON document.
const maxDrain = 64 << 10

// newClient returns an HTTP client for the load. It keeps up to conns connections alive, connects
// only to allowed addresses, uses no proxy (the allow-list must see the real destination, and a
// proxy would add its own latency), and follows no redirect (the 303 is the vote's answer).
func newClient(conns int, timeout time.Duration) *http.Client {
	dialer := &net.Dialer{Timeout: min(timeout, 5*time.Second), KeepAlive: 30 * time.Second, Control: target.Control}
	return &http.Client{
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         dialer.DialContext,
			MaxIdleConns:        conns,
			MaxIdleConnsPerHost: conns,
			MaxConnsPerHost:     conns,
			IdleConnTimeout:     90 * time.Second,
			TLSHandshakeTimeout: min(timeout, 5*time.Second),
			DisableCompression:  true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// ballotBox is the vote service's voting endpoint as the load sees it.
type ballotBox struct {
	client   *http.Client
	url      string // POST here
	api      string // apiForm or apiJSON
	accepted int    // the status of an accepted vote
	timeout  time.Duration
}

func newBallotBox(client *http.Client, base, api string, timeout time.Duration) (*ballotBox, error) {
	b := &ballotBox{client: client, api: api, accepted: http.StatusSeeOther, timeout: timeout}
	path := "/"
	if api == apiJSON {
		path, b.accepted = "/api/v1/votes", http.StatusAccepted
	}
	u, err := url.JoinPath(base, path)
	if err != nil {
		return nil, err
	}
	b.url = u
	return b, nil
}

// castResult is what one vote's request came to.
type castResult struct {
	outcome   ledger.Outcome
	kind      string // what went wrong, for the error counts; "" when accepted
	responded bool   // an HTTP response came back, so the latency is the service's
	voterID   string // the valid voter_id the response set, if any
}

// cast sends one vote for option, as voterID (or as a new voter when voterID is empty). No
// Origin or Sec-Fetch-Site header is sent: the vote service's cross-origin protection lets
// requests without them through, as it does for every non-browser client.
func (b *ballotBox) cast(ctx context.Context, voterID, option string) castResult {
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	body, ctype := "vote="+option, "application/x-www-form-urlencoded"
	if b.api == apiJSON {
		body, ctype = `{"vote":"`+option+`"}`, "application/json"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.url, strings.NewReader(body))
	if err != nil {
		return castResult{outcome: ledger.Rejected, kind: "bad_request"}
	}
	req.Header.Set("Content-Type", ctype)
	req.Header.Set("User-Agent", userAgent())
	if voterID != "" {
		req.AddCookie(&http.Cookie{Name: voterCookie, Value: voterID})
	}
	resp, err := b.client.Do(req)
	if err != nil {
		return classifyError(err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain)) // the status has the answer already
	resp.Body.Close()
	r := classifyStatus(resp.StatusCode, b.accepted)
	r.responded = true
	r.voterID = voterIDOf(resp)
	return r
}

// classifyStatus maps a response status to the vote's outcome. A 4xx refused the vote before it
// was queued (408 excepted: a proxy may have timed out waiting for a service that went on); a
// 5xx may come after the vote was queued, as when the queue's reply times out.
func classifyStatus(code, accepted int) castResult {
	kind := "http_" + strconv.Itoa(code)
	switch {
	case code == accepted:
		return castResult{outcome: ledger.Accepted}
	case code >= 400 && code < 500 && code != http.StatusRequestTimeout:
		return castResult{outcome: ledger.Rejected, kind: kind}
	}
	return castResult{outcome: ledger.Unknown, kind: kind}
}

// classifyError maps a failed request to the vote's outcome. Failing to connect means nothing
// was sent; anything later may have reached the service.
func classifyError(err error) castResult {
	if errors.Is(err, target.ErrNotAllowed) {
		return castResult{outcome: ledger.Rejected, kind: "refused_target"}
	}
	if op, ok := errors.AsType[*net.OpError](err); ok && op.Op == "dial" {
		kind := "connect_error"
		switch {
		case errors.Is(err, syscall.ECONNREFUSED):
			kind = "connection_refused"
		case op.Timeout():
			kind = "connect_timeout"
		}
		return castResult{outcome: ledger.Rejected, kind: kind}
	}
	if _, ok := errors.AsType[*net.DNSError](err); ok {
		return castResult{outcome: ledger.Rejected, kind: "dns"}
	}
	kind := "other"
	if ne, ok := errors.AsType[net.Error](err); (ok && ne.Timeout()) || errors.Is(err, context.DeadlineExceeded) {
		kind = "timeout"
	} else if errors.Is(err, syscall.ECONNRESET) {
		kind = "connection_reset"
	} else if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		kind = "connection_closed"
	}
	return castResult{outcome: ledger.Unknown, kind: kind}
}

// voterIDOf returns the voter id a response set, when it is one the vote service could issue.
func voterIDOf(resp *http.Response) string {
	for _, c := range resp.Cookies() {
		if c.Name != voterCookie {
			continue
		}
		if id, err := ballot.ParseVoterID(c.Value); err == nil {
			return string(id)
		}
	}
	return ""
}

func userAgent() string { return "voting-app-loadgen/" + buildinfo.Version }
