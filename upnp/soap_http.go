package upnp

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"time"
)

// defaultHTTPClient is used when a constructor receives a nil *http.Client.
// It never uses an environment proxy (the gateway is on the LAN) and bounds
// every phase of the exchange; callers add an overall deadline via context.
var defaultHTTPClient = NewHTTPClient(netip.Addr{})

// NewHTTPClient returns an *http.Client suitable for talking to a gateway:
// no proxy, short dial and header timeouts, and, when local is valid,
// connections dialed from that local address. Pinhole actions need this:
// WANIPv6FirewallControl only accepts calls coming from the pinhole's
// internal client address (miniupnpd answers 606 otherwise).
func NewHTTPClient(local netip.Addr) *http.Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	if local.IsValid() {
		dialer.LocalAddr = &net.TCPAddr{IP: local.AsSlice(), Zone: local.Zone()}
	}
	tr := &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return dialer.DialContext(ctx, network, addr)
		},
		ResponseHeaderTimeout:  10 * time.Second,
		MaxIdleConnsPerHost:    2,
		IdleConnTimeout:        10 * time.Second,
		MaxResponseHeaderBytes: maxResponseHeaderBytes,
		DisableCompression:     true,
	}
	return &http.Client{
		Transport: tr,
		Timeout:   30 * time.Second,
		// A control URL never legitimately redirects; following one could
		// send the SOAP body elsewhere.
		CheckRedirect: noRedirect,
	}
}
