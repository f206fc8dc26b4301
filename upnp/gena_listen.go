package upnp

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"time"
)

// Subscribe subscribes to svc's events (svc.EventSubURL) and serves the
// NOTIFY requests on an HTTP listener of its own, at opts.ListenAddr or the
// local address that reaches the device. The callback path holds a random
// token so other LAN hosts cannot guess it. ctx bounds the SUBSCRIBE
// request only; the subscription, its renewal and its listener live until
// Close or Unsubscribe.
func Subscribe(ctx context.Context, svc Service, opts SubscribeOptions) (*Subscription, error) {
	if svc.EventSubURL == nil {
		return nil, fmt.Errorf("upnp: service %q has no eventSubURL", svc.Type)
	}
	laddr := opts.ListenAddr
	if !laddr.IsValid() {
		a, err := localAddrToward(ctx, svc.EventSubURL)
		if err != nil {
			return nil, err
		}
		laddr = netip.AddrPortFrom(a, 0)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", laddr.String())
	if err != nil {
		return nil, fmt.Errorf("upnp: GENA listener: %w", err)
	}
	token := make([]byte, 12)
	_, _ = rand.Read(token) // never fails (crypto/rand since Go 1.24)
	callback := &url.URL{Scheme: "http", Host: ln.Addr().String(), Path: "/portmap/gena/" + hex.EncodeToString(token)}
	s, err := NewSubscription(svc, callback, opts)
	if err != nil {
		ln.Close()
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle(callback.Path, s)
	s.srv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       30 * time.Second,
		MaxHeaderBytes:    8 << 10,
		ErrorLog:          log.New(io.Discard, "", 0), // no logging by default
	}
	s.wg.Go(func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Debug("upnp: GENA listener", "err", err)
		}
	})
	if err := s.Start(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// localAddrToward returns the local address the system would use to reach
// u's host. Connecting a UDP socket sends nothing; it only routes.
func localAddrToward(ctx context.Context, u *url.URL) (netip.Addr, error) {
	port := u.Port()
	if port == "" {
		port = "80"
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return netip.Addr{}, fmt.Errorf("upnp: event URL port %q", port)
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "udp", net.JoinHostPort(u.Hostname(), port))
	if err != nil {
		return netip.Addr{}, fmt.Errorf("upnp: finding local address toward %s: %w", u.Host, err)
	}
	defer c.Close()
	ap, err := netip.ParseAddrPort(c.LocalAddr().String())
	if err != nil {
		return netip.Addr{}, fmt.Errorf("upnp: local address: %w", err)
	}
	return ap.Addr().Unmap(), nil
}
