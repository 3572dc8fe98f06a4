package webhook

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// Address ranges refused as webhook targets besides what netip classifies as
// loopback, private, link-local, multicast or unspecified.
var refusedPrefixes = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),     // "this network"
	netip.MustParsePrefix("100.64.0.0/10"), // carrier-grade NAT
	netip.MustParsePrefix("192.0.0.0/24"),  // IETF protocol assignments
	netip.MustParsePrefix("198.18.0.0/15"), // benchmarking
	netip.MustParsePrefix("240.0.0.0/4"),   // reserved, broadcast
	netip.MustParsePrefix("64:ff9b::/96"),  // NAT64: embeds an IPv4 address
	netip.MustParsePrefix("2002::/16"),     // 6to4: embeds an IPv4 address
}

// publicAddr reports whether a may be a webhook target without AllowPrivate.
func publicAddr(a netip.Addr) bool {
	a = a.Unmap()
	if !a.IsValid() || a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() ||
		a.IsInterfaceLocalMulticast() || a.IsMulticast() || a.IsUnspecified() {
		return false
	}
	for _, p := range refusedPrefixes {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

var errPrivateTarget = errors.New("webhook: target address is private, loopback or link-local (set webhooks.allow_private to allow)")

// dialControl is net.Dialer.Control: it runs after DNS resolution with the
// address about to be connected, so a name that resolved to a public address
// at creation and to a private one now (DNS rebinding) is still refused.
func dialControl(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("webhook: dial %s: %w", address, err)
	}
	if !publicAddr(ap.Addr()) {
		return fmt.Errorf("%w: %s", errPrivateTarget, ap.Addr())
	}
	return nil
}

// checkURL validates a webhook URL: absolute http(s) with a host, no user
// info; https unless allowPrivate. Without allowPrivate, an IP literal host
// must be public and a name must resolve (when resolve is true; lookup
// failures are errors then) to public addresses only.
func checkURL(ctx context.Context, raw string, allowPrivate, resolve bool) error {
	bad := func(msg string) error { return &ValidationError{Field: "url", Message: msg} }
	if len(raw) > 2048 {
		return bad("longer than 2048 characters")
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "" {
		return bad("must be an absolute http(s) URL")
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !allowPrivate {
			return bad("must use https")
		}
	default:
		return bad("must use https")
	}
	if u.User != nil {
		return bad("must not contain user information")
	}
	if u.Fragment != "" {
		return bad("must not contain a fragment")
	}
	if allowPrivate {
		return nil
	}
	host := strings.TrimSuffix(u.Hostname(), ".")
	if a, err := netip.ParseAddr(host); err == nil {
		if !publicAddr(a) {
			return bad("resolves to a private, loopback or link-local address")
		}
		return nil
	}
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return bad("resolves to a private, loopback or link-local address")
	}
	if !resolve {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return bad("host does not resolve")
	}
	for _, a := range addrs {
		if !publicAddr(a) {
			return bad("resolves to a private, loopback or link-local address")
		}
	}
	return nil
}
