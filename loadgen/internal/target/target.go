// Package target keeps the load tool aimed at the project's own servers: this machine (loopback)
// or a container network (private addresses, which is what compose and Kubernetes service names
// resolve to). A load generator pointed at someone else's server by mistake is an attack, so
// every other address is refused, both before the run and on every connection.
package target

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
)

// ErrNotAllowed is the reason a target is refused.
var ErrNotAllowed = errors.New("not a loopback or private address")

// Allowed reports whether a may receive load: loopback (127.0.0.0/8, ::1) or private (RFC 1918:
// 10/8, 172.16/12, 192.168/16; RFC 4193 unique local: fc00::/7). Link-local, unspecified and
// public addresses are not.
func Allowed(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsLoopback() || a.IsPrivate()
}

// Resolver looks up a host name's addresses; net.DefaultResolver.LookupNetIP with network "ip"
// in production.
type Resolver func(ctx context.Context, host string) ([]netip.Addr, error)

// Check parses an http(s) URL and refuses it unless its host is, or resolves only to, allowed
// addresses. A name with one public address among private ones is refused too: the connection
// could go to any of them.
func Check(ctx context.Context, raw string, resolve Resolver) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
		return nil, fmt.Errorf("%q is not an http:// or https:// URL with a host", raw)
	}
	host := u.Hostname()
	if a, err := netip.ParseAddr(host); err == nil {
		if !Allowed(a) {
			return nil, fmt.Errorf("target %s: %s is %w", host, a, ErrNotAllowed)
		}
		return u, nil
	}
	addrs, err := resolve(ctx, host)
	if err != nil {
		return nil, fmt.Errorf("target %s: cannot resolve: %w", host, err)
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("target %s: no addresses", host)
	}
	var refused []string
	for _, a := range addrs {
		if !Allowed(a) {
			refused = append(refused, a.String())
		}
	}
	if len(refused) > 0 {
		return nil, fmt.Errorf("target %s resolves to %s: %w", host, strings.Join(refused, ", "), ErrNotAllowed)
	}
	return u, nil
}

// Control is a net.Dialer Control function: it runs after name resolution, just before each
// connect, and refuses addresses that Check would refuse. A name that resolved to a private
// address at start and to another address later still cannot receive load.
func Control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", address, err)
	}
	if !Allowed(ap.Addr()) {
		return fmt.Errorf("connect to %s: %w", address, ErrNotAllowed)
	}
	return nil
}
