package web

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
)

// ClientAddrs finds the address a request's client is counted under, for per-client limits. It is
// the connection's peer (RemoteAddr), unless that peer is one of the trusted proxies: then the
// header they set names the client. An IPv6 client counts by its /64, the block one host usually
// gets, so that it cannot escape a limit by changing addresses within it. The zero value trusts
// nobody.
type ClientAddrs struct {
	trusted []netip.Prefix
	header  string // e.g. X-Forwarded-For; read only from trusted proxies
}

// ParseClientAddrs reads TRUSTED_PROXIES (addresses or CIDR prefixes, separated by commas) and the
// header those proxies name the client in (CLIENT_IP_HEADER).
func ParseClientAddrs(trusted, header string) (ClientAddrs, error) {
	c := ClientAddrs{header: header}
	var bad []string
	for s := range strings.SplitSeq(trusted, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if p, err := netip.ParsePrefix(s); err == nil {
			c.trusted = append(c.trusted, p.Masked())
		} else if a, err := netip.ParseAddr(s); err == nil {
			c.trusted = append(c.trusted, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
		} else {
			bad = append(bad, fmt.Sprintf("%q", s))
		}
	}
	if len(bad) > 0 {
		return c, fmt.Errorf("TRUSTED_PROXIES: %s: want IP addresses or CIDR prefixes such as 10.0.0.0/8", strings.Join(bad, ", "))
	}
	return c, nil
}

// Of returns the key the request's client is counted under.
func (c ClientAddrs) Of(r *http.Request) netip.Addr {
	peer := parseHost(r.RemoteAddr)
	if len(c.trusted) == 0 || !c.isTrusted(peer) {
		return key(peer)
	}
	// Proxies append: the rightmost entries were added by the proxies in front of this service,
	// the leftmost by whoever sent the request, which may be anyone. So the client is the first
	// address from the right that is not a trusted proxy; anything left of it is not believed.
	hops := strings.Split(strings.Join(r.Header.Values(c.header), ","), ",")
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		client = a.Unmap()
		if !c.isTrusted(client) {
			break
		}
	}
	return key(client)
}

func (c ClientAddrs) isTrusted(a netip.Addr) bool {
	for _, p := range c.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// parseHost reads the address of "host:port" (RemoteAddr) or a bare address; the zero Addr when
// it is neither, so such requests count as one client.
func parseHost(s string) netip.Addr {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap()
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap()
	}
	return netip.Addr{}
}

func key(a netip.Addr) netip.Addr {
	if a.Is6() {
		p, _ := a.WithZone("").Prefix(64)
		return p.Addr()
	}
	return a
}

// LogValue says how clients are told apart, for the start-up log.
func (c ClientAddrs) LogValue() slog.Value {
	if len(c.trusted) == 0 {
		return slog.StringValue("by peer address")
	}
	return slog.GroupValue(slog.Int("trusted_proxies", len(c.trusted)), slog.String("header", c.header))
}
