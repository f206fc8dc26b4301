package upnp

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
)

// ErrUnsafeURL is wrapped when a URL from an SSDP reply, a description or
// the cache is refused: not http(s), not an IP literal, or pointing to a
// host other than the one it came from; when a cache entry names another
// gateway than the one it is stored under; and, through *HTTPError, when a
// control URL answers with a redirect (never followed).
//
// Why: anyone on the LAN can answer an M-SEARCH, and a description is
// whatever the device says. Without this check a hostile or broken device
// could make us fetch an internet URL (leaking our presence and address),
// probe other LAN hosts, or, through a description's controlURL, aim the
// SOAP requests we build (with the user's port mapping data) at another
// host. Host names are refused too: resolving them would let DNS pick the
// target (rebinding), and gateways use address literals.
var ErrUnsafeURL = errors.New("upnp: refusing URL")

// urlPolicy decides which URLs may be fetched or called.
type urlPolicy struct {
	// allowLAN accepts other hosts in private, link-local and ULA ranges,
	// not only the origin itself.
	allowLAN bool
}

// check returns the URL's host address when u may be used for something
// that came from origin: the LOCATION of an SSDP reply from origin, or a
// control/event URL of a description fetched from origin.
func (p urlPolicy) check(u *url.URL, origin netip.Addr) (netip.Addr, error) {
	if u == nil {
		return netip.Addr{}, fmt.Errorf("%w: empty", ErrUnsafeURL)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return netip.Addr{}, fmt.Errorf("%w: %q: scheme is not http", ErrUnsafeURL, u.Redacted())
	}
	if u.User != nil {
		return netip.Addr{}, fmt.Errorf("%w: %q: has user info", ErrUnsafeURL, u.Redacted())
	}
	host, err := netip.ParseAddr(u.Hostname())
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%w: %q: host is not an IP address", ErrUnsafeURL, u.Redacted())
	}
	host = host.Unmap()
	origin = origin.Unmap()
	if host.WithZone("") == origin.WithZone("") {
		return host, nil
	}
	if p.allowLAN && isLANAddr(host) && (!host.IsLoopback() || origin.IsLoopback()) {
		return host, nil
	}
	return netip.Addr{}, fmt.Errorf("%w: %q: host is not %s", ErrUnsafeURL, u.Redacted(), origin)
}

// isLANAddr reports whether a is an address of a local network: RFC 1918,
// IPv6 ULA (fc00::/7), link-local, or loopback. Carrier-grade NAT space
// (100.64.0.0/10) is not a LAN: hosts there belong to other customers.
func isLANAddr(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLoopback()
}

// withZone copies u and, when its host is a link-local IPv6 address without
// zone, adds zone: a device replying from fe80::1%eth0 sends a LOCATION of
// http://[fe80::1]:5000/..., which cannot be dialled without the zone.
func withZone(u *url.URL, zone string) *url.URL {
	c := *u
	if zone == "" {
		return &c
	}
	a, err := netip.ParseAddr(u.Hostname())
	if err != nil || !a.Is6() || !a.IsLinkLocalUnicast() || a.Zone() != "" {
		return &c
	}
	c.Host = "[" + a.WithZone(zone).String() + "]"
	if p := u.Port(); p != "" {
		c.Host += ":" + p
	}
	return &c
}
