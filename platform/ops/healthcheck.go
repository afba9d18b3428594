package ops

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// Healthcheck asks the service's own ops server for /readyz and returns an error unless it answers
// 200. It is what the image's HEALTHCHECK runs, so the image needs no shell and no curl. opsAddr is
// the service's OPS_ADDR (":9090" → 127.0.0.1:9090).
func Healthcheck(ctx context.Context, opsAddr string, out io.Writer) error {
	host, port, err := net.SplitHostPort(opsAddr)
	if err != nil {
		return fmt.Errorf("healthcheck: OPS_ADDR %q: %w", opsAddr, err)
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	url := "http://" + net.JoinHostPort(host, port) + "/readyz"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	var body struct {
		Status string            `json:"status"`
		Checks map[string]string `json:"checks"`
	}
	json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&body)
	for _, k := range sortedKeys(body.Checks) {
		fmt.Fprintf(out, "%s: %s\n", k, body.Checks[k])
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s answered %s", url, resp.Status)
	}
	return nil
}
