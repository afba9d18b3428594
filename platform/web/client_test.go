package web

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

func TestClientAddrs(t *testing.T) {
	proxied, err := ParseClientAddrs("10.0.0.0/8, 192.0.2.7, fd00::/8", "X-Forwarded-For")
	if err != nil {
		t.Fatal(err)
	}
	realIP, err := ParseClientAddrs("10.0.0.1", "X-Real-IP")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		addrs   ClientAddrs
		remote  string
		headers map[string][]string
		want    string
	}{
		{"peer", ClientAddrs{}, "198.51.100.4:5123", nil, "198.51.100.4"},
		{"header ignored without trusted proxies", ClientAddrs{header: "X-Forwarded-For"}, "198.51.100.4:5123",
			map[string][]string{"X-Forwarded-For": {"203.0.113.9"}}, "198.51.100.4"},
		{"header ignored from an untrusted peer", proxied, "198.51.100.4:5123",
			map[string][]string{"X-Forwarded-For": {"203.0.113.9"}}, "198.51.100.4"},
		{"trusted proxy names the client", proxied, "10.1.2.3:40000",
			map[string][]string{"X-Forwarded-For": {"203.0.113.9"}}, "203.0.113.9"},
		{"forged entries left of the real client are not believed", proxied, "10.1.2.3:40000",
			map[string][]string{"X-Forwarded-For": {"1.1.1.1, 2.2.2.2, 203.0.113.9"}}, "203.0.113.9"},
		{"chain of trusted proxies", proxied, "10.1.2.3:40000",
			map[string][]string{"X-Forwarded-For": {"203.0.113.9, 192.0.2.7", "10.9.9.9"}}, "203.0.113.9"},
		{"garbage left of the client", proxied, "10.1.2.3:40000",
			map[string][]string{"X-Forwarded-For": {"<script>, 203.0.113.9"}}, "203.0.113.9"},
		{"garbage from the proxy: count the proxy", proxied, "10.1.2.3:40000",
			map[string][]string{"X-Forwarded-For": {"not an address"}}, "10.1.2.3"},
		{"no header from the proxy: count the proxy", proxied, "10.1.2.3:40000", nil, "10.1.2.3"},
		{"only trusted hops: the leftmost", proxied, "10.1.2.3:40000",
			map[string][]string{"X-Forwarded-For": {"10.0.0.5, 10.0.0.6"}}, "10.0.0.5"},
		{"IPv4 in IPv6", proxied, "[::ffff:10.1.2.3]:40000",
			map[string][]string{"X-Forwarded-For": {"::ffff:203.0.113.9"}}, "203.0.113.9"},
		{"IPv6 counts by /64", ClientAddrs{}, "[2001:db8:1:2:aaaa:bbbb:cccc:dddd]:443", nil, "2001:db8:1:2::"},
		{"IPv6 with a zone", ClientAddrs{}, "[fe80::1%eth0]:443", nil, "fe80::"},
		{"X-Real-IP", realIP, "10.0.0.1:1",
			map[string][]string{"X-Real-Ip": {"203.0.113.10"}}, "203.0.113.10"},
		{"unparsable peer", ClientAddrs{}, "pipe", nil, "invalid IP"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/", nil)
			r.RemoteAddr = tt.remote
			for k, vs := range tt.headers {
				for _, v := range vs {
					r.Header.Add(k, v)
				}
			}
			if got := tt.addrs.Of(r).String(); got != tt.want {
				t.Errorf("client %s, want %s", got, tt.want)
			}
		})
	}
}

func TestParseClientAddrsRejectsGarbage(t *testing.T) {
	_, err := ParseClientAddrs("10.0.0.0/8, proxy.example, 300.1.1.1", "X-Forwarded-For")
	if err == nil || !strings.Contains(err.Error(), `"proxy.example"`) || !strings.Contains(err.Error(), `"300.1.1.1"`) {
		t.Fatalf("error %v, want both bad entries named", err)
	}
}

// Whatever a client sends, the address it is counted under is its peer's, or one named in the
// header when the peer is a trusted proxy; nothing panics.
func FuzzClientAddrs(f *testing.F) {
	for _, seed := range []struct{ remote, forwarded string }{
		{"198.51.100.4:5123", ""},
		{"10.1.2.3:40000", "203.0.113.9"},
		{"10.1.2.3:40000", "1.1.1.1, 2.2.2.2, 203.0.113.9"},
		{"10.1.2.3:40000", "10.0.0.5, 10.0.0.6"},
		{"10.1.2.3:40000", "<script>, ::ffff:203.0.113.9"},
		{"[fd00::1]:1", "2001:db8::1%eth0, fd00::2"},
		{"[::ffff:10.0.0.1]:1", ",,,"},
		{"pipe", "203.0.113.9"},
		{"", ""},
	} {
		f.Add(seed.remote, seed.forwarded)
	}
	addrs, err := ParseClientAddrs("10.0.0.0/8, fd00::/8", "X-Forwarded-For")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, remote, forwarded string) {
		r := httptest.NewRequest(http.MethodPost, "/", nil)
		r.RemoteAddr = remote
		r.Header.Set("X-Forwarded-For", forwarded)
		got := addrs.Of(r)

		peer := parseHost(remote)
		if !addrs.isTrusted(peer) {
			if got != key(peer) {
				t.Fatalf("untrusted peer %q counted as %s", remote, got)
			}
			return
		}
		candidates := []netip.Addr{key(peer)}
		for hop := range strings.SplitSeq(forwarded, ",") {
			if a, err := netip.ParseAddr(strings.TrimSpace(hop)); err == nil {
				candidates = append(candidates, key(a.Unmap()))
			}
		}
		for _, c := range candidates {
			if got == c {
				return
			}
		}
		t.Fatalf("peer %q with X-Forwarded-For %q counted as %s, which neither names", remote, forwarded, got)
	})
}
