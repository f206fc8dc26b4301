package portmap

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// backend is what each protocol provides to a Client.
type backend interface {
	protocol() Protocol
	externalIP(ctx context.Context) (netip.Addr, error)
	// add asks for a mapping; req is complete (defaults filled in).
	add(ctx context.Context, req Request) (Mapping, error)
	// refresh renews m for lifetime, keeping its external port.
	refresh(ctx context.Context, m Mapping, lifetime time.Duration) (Mapping, error)
	remove(ctx context.Context, m Mapping) error
	list(ctx context.Context) ([]Mapping, error)
	close() error
}

// Client talks to one gateway with one protocol, chosen by [Discover].
// It is safe for concurrent use.
type Client struct {
	b       backend
	gateway netip.Addr
	local   netip.Addr
	opts    Options
}

// Protocol is the protocol the client uses.
func (c *Client) Protocol() Protocol { return c.b.protocol() }

// Gateway is the gateway's address.
func (c *Client) Gateway() netip.Addr { return c.gateway }

// LocalAddr is this host's address toward the gateway: the internal address
// of mappings unless a Request names another.
func (c *Client) LocalAddr() netip.Addr { return c.local }

// Close releases the client's sockets. It does not delete mappings.
func (c *Client) Close() error { return c.b.close() }

// ExternalIP returns the gateway's external address. Use
// [ClassifyAddress] to learn whether it is reachable from the internet.
func (c *Client) ExternalIP(ctx context.Context) (netip.Addr, error) {
	return c.b.externalIP(ctx)
}

// Add asks the gateway for a mapping and returns what it granted, which may
// differ from the request: another external port (unless ExactPort), a
// shorter lifetime.
func (c *Client) Add(ctx context.Context, req Request) (Mapping, error) {
	req, err := c.complete(req)
	if err != nil {
		return Mapping{}, err
	}
	m, err := c.b.add(ctx, req)
	if err != nil {
		return Mapping{}, err
	}
	if req.ExactPort && m.External.Port() != req.ExternalPort {
		// The gateway moved the mapping although the caller wanted this
		// port or nothing: take it back.
		c.b.remove(context.WithoutCancel(ctx), m)
		return Mapping{}, fmt.Errorf("portmap: %s: external port %d/%s is taken (the gateway offered %d)", c.Protocol(), req.ExternalPort, req.Transport, m.External.Port())
	}
	return m, nil
}

// complete checks a request and fills in its defaults.
func (c *Client) complete(req Request) (Request, error) {
	if req.InternalPort == 0 {
		return req, invalidf("internal port 0: a port is 1 to 65535")
	}
	switch req.Transport {
	case "":
		req.Transport = TCP
	case TCP, UDP:
	default:
		return req, invalidf("unknown transport %q (want tcp or udp)", req.Transport)
	}
	if !req.InternalIP.IsValid() {
		req.InternalIP = c.local
	}
	if req.Lifetime < 0 {
		return req, invalidf("negative lifetime %v", req.Lifetime)
	}
	if req.Lifetime == 0 {
		req.Lifetime = DefaultLifetime
	}
	if req.ExternalPort == 0 {
		req.ExternalPort = req.InternalPort
	}
	return req, nil
}

// Refresh renews a mapping for another lifetime (zero: the one it was
// granted, or DefaultLifetime for a permanent one), keeping its external
// port where the gateway allows.
func (c *Client) Refresh(ctx context.Context, m Mapping, lifetime time.Duration) (Mapping, error) {
	if lifetime == 0 {
		lifetime = m.Lifetime
	}
	if lifetime == 0 {
		lifetime = DefaultLifetime
	}
	return c.b.refresh(ctx, m, lifetime)
}

// Delete removes a mapping.
func (c *Client) Delete(ctx context.Context, m Mapping) error {
	return c.b.remove(ctx, m)
}

// List returns the gateway's mappings. Only UPnP can list; NAT-PMP and PCP
// return an error matching [ErrNotSupported].
func (c *Client) List(ctx context.Context) ([]Mapping, error) {
	return c.b.list(ctx)
}

// Filter selects mappings for [Client.DeleteAll]; zero fields match all.
type Filter struct {
	// InternalIP keeps mappings to this LAN host.
	InternalIP netip.Addr
	// Transport keeps mappings of this transport.
	Transport Transport
	// First and Last keep mappings whose external port is in the range.
	First, Last uint16
}

// Match reports whether m passes the filter.
func (f Filter) Match(m Mapping) bool {
	switch {
	case f.InternalIP.IsValid() && m.Internal.Addr() != f.InternalIP:
		return false
	case f.Transport != "" && m.Transport != f.Transport:
		return false
	case f.First != 0 && m.External.Port() < f.First:
		return false
	case f.Last != 0 && m.External.Port() > f.Last:
		return false
	}
	return true
}

// DeleteAll deletes every listed mapping that passes the filter and returns
// those it deleted. It needs a protocol that can list (UPnP).
func (c *Client) DeleteAll(ctx context.Context, f Filter) ([]Mapping, error) {
	ms, err := c.List(ctx)
	if err != nil {
		return nil, err
	}
	var deleted []Mapping
	var errs []error
	for _, m := range ms {
		if !f.Match(m) {
			continue
		}
		if err := c.Delete(ctx, m); err != nil {
			errs = append(errs, err)
			continue
		}
		deleted = append(deleted, m)
	}
	return deleted, errors.Join(errs...)
}
