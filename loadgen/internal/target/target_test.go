package target

import (
	"context"
	"errors"
	"net/netip"
	"testing"
)

func TestAllowed(t *testing.T) {
	tests := []struct {
		addr string
		want bool
	}{
		{"127.0.0.1", true},
		{"127.255.0.9", true},
		{"::1", true},
		{"::ffff:127.0.0.1", true},
		{"10.0.0.5", true},
		{"172.16.0.1", true},
		{"172.31.255.254", true},
		{"192.168.1.10", true},
		{"fd12:3456::1", true},
		{"::ffff:10.1.2.3", true},
		{"172.32.0.1", false},
		{"172.15.255.255", false},
		{"192.169.0.1", false},
		{"100.64.0.1", false}, // carrier-grade NAT is shared, not ours
		{"169.254.169.254", false},
		{"fe80::1", false},
		{"0.0.0.0", false},
		{"::", false},
		{"8.8.8.8", false},
		{"2001:4860:4860::8888", false},
		{"::ffff:8.8.8.8", false},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			if got := Allowed(netip.MustParseAddr(tt.addr)); got != tt.want {
				t.Fatalf("Allowed(%s) = %v, want %v", tt.addr, got, tt.want)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	names := map[string][]string{
		"localhost":   {"127.0.0.1", "::1"},
		"vote":        {"172.18.0.4"},
		"vote.ns.svc": {"10.96.3.7"},
		"example.com": {"93.184.215.14"},
		"mixed":       {"10.0.0.2", "203.0.113.9"},
		"empty":       {},
	}
	resolve := func(ctx context.Context, host string) ([]netip.Addr, error) {
		addrs, ok := names[host]
		if !ok {
			return nil, errors.New("no such host")
		}
		var out []netip.Addr
		for _, a := range addrs {
			out = append(out, netip.MustParseAddr(a))
		}
		return out, nil
	}
	tests := []struct {
		url        string
		ok         bool
		notAllowed bool // the refusal is for the address, not the URL's shape
	}{
		{"http://127.0.0.1:8080", true, false},
		{"http://[::1]:8080/", true, false},
		{"http://localhost:8080", true, false},
		{"http://vote:8080", true, false},
		{"https://vote.ns.svc/", true, false},
		{"http://192.168.0.10:8080", true, false},
		{"http://example.com", false, true},
		{"http://8.8.8.8", false, true},
		{"http://mixed:8080", false, true},
		{"http://169.254.169.254/", false, true},
		{"http://empty", false, false},
		{"http://unknown-host", false, false},
		{"ftp://127.0.0.1/", false, false},
		{"127.0.0.1:8080", false, false},
		{"http://", false, false},
		{"://bad", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			u, err := Check(context.Background(), tt.url, resolve)
			if tt.ok {
				if err != nil || u == nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			if got := errors.Is(err, ErrNotAllowed); got != tt.notAllowed {
				t.Fatalf("error %q: ErrNotAllowed %v, want %v", err, got, tt.notAllowed)
			}
		})
	}
}

func TestControl(t *testing.T) {
	tests := []struct {
		address string
		ok      bool
	}{
		{"127.0.0.1:8080", true},
		{"[::1]:8080", true},
		{"172.20.0.3:8080", true},
		{"[fd00::3]:443", true},
		{"93.184.215.14:80", false},
		{"[2606:2800::1]:80", false},
		{"not-an-address", false},
	}
	for _, tt := range tests {
		t.Run(tt.address, func(t *testing.T) {
			if err := Control("tcp", tt.address, nil); (err == nil) != tt.ok {
				t.Fatalf("Control(%s) = %v, want allowed %v", tt.address, err, tt.ok)
			}
		})
	}
}
