package natpmp

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"time"
)

// ExternalAddress is the gateway's answer to an external address request.
type ExternalAddress struct {
	Addr  netip.Addr // the gateway's external IPv4 address; 0.0.0.0 if it has none
	Epoch uint32     // the gateway's seconds since start of epoch
}

// Mapping is a port mapping granted by the gateway.
type Mapping struct {
	Protocol     Protocol
	InternalPort uint16
	ExternalPort uint16
	// Lifetime is the lifetime granted, which may differ from the one
	// asked for. Renew the mapping before it ends, e.g. at half of it.
	Lifetime time.Duration
	Epoch    uint32 // the gateway's seconds since start of epoch
}

// ExternalAddress asks the gateway for its external IPv4 address (RFC 6886
// §3.2).
func (c *Client) ExternalAddress(ctx context.Context) (ExternalAddress, error) {
	resp, _, err := c.do(ctx, Request{Op: OpExternalAddress})
	if err != nil {
		return ExternalAddress{}, err
	}
	return ExternalAddress{Addr: resp.ExternalAddr, Epoch: resp.Epoch}, nil
}

// Map asks the gateway to map an external port to internalPort on this host
// for lifetime (rounded up to whole seconds) (RFC 6886 §3.3).
// suggestedExternalPort is the external port wanted, 0 for any; the gateway
// may grant another one, and a shorter or longer lifetime.
//
// Calling Map again for the same protocol and internal port renews the
// mapping. The client then suggests the external port it was granted before
// (unless another suggestion than the first one is given), so that a
// renewal, even after a gateway reboot, keeps the port if it can.
//
// A reply showing the port-truncation bug of some miniupnpd versions (see
// the comment on truncatedPort) is accepted when the truncated external port
// agrees with the suggestion, which then is the port mapped; otherwise Map
// fails with [ErrAmbiguousPort].
func (c *Client) Map(ctx context.Context, proto Protocol, internalPort, suggestedExternalPort uint16, lifetime time.Duration) (Mapping, error) {
	if !proto.valid() {
		return Mapping{}, fmt.Errorf("natpmp: invalid protocol %v", proto)
	}
	if internalPort == 0 {
		return Mapping{}, errors.New("natpmp: internal port 0 cannot be mapped")
	}
	secs, err := lifetimeSeconds(lifetime)
	if err != nil {
		return Mapping{}, err
	}
	key := mapKey{proto, internalPort}
	asked := suggestedExternalPort
	c.mu.Lock()
	if g, ok := c.granted[key]; ok && (asked == 0 || asked == g.asked) {
		suggestedExternalPort = g.granted
	}
	c.mu.Unlock()

	req := Request{Op: Opcode(proto), InternalPort: internalPort, SuggestedExternalPort: suggestedExternalPort, Lifetime: secs}
	resp, m, err := c.do(ctx, req)
	if err != nil {
		return Mapping{}, err
	}
	ext := resp.ExternalPort
	if m == matchedTruncated {
		if suggestedExternalPort == 0 || !truncatedPort(suggestedExternalPort, ext) && suggestedExternalPort != ext {
			return Mapping{}, fmt.Errorf("%w (internal port %d answered as %d, external port %d)", ErrAmbiguousPort, internalPort, resp.InternalPort, ext)
		}
		ext = suggestedExternalPort
	}
	if ext == 0 || resp.Lifetime == 0 {
		return Mapping{}, fmt.Errorf("%w: mapping reply grants external port %d for %d s", ErrMalformed, ext, resp.Lifetime)
	}
	c.mu.Lock()
	c.granted[key] = grant{asked: asked, granted: ext}
	c.mu.Unlock()
	return Mapping{
		Protocol:     proto,
		InternalPort: internalPort,
		ExternalPort: ext,
		Lifetime:     time.Duration(resp.Lifetime) * time.Second,
		Epoch:        resp.Epoch,
	}, nil
}

// Renew renews m for lifetime, suggesting its external port.
func (c *Client) Renew(ctx context.Context, m Mapping, lifetime time.Duration) (Mapping, error) {
	return c.Map(ctx, m.Protocol, m.InternalPort, m.ExternalPort, lifetime)
}

// Delete removes the mapping of internalPort (a request with lifetime 0,
// RFC 6886 §3.4). Deleting a mapping that does not exist succeeds.
func (c *Client) Delete(ctx context.Context, proto Protocol, internalPort uint16) error {
	if !proto.valid() {
		return fmt.Errorf("natpmp: invalid protocol %v", proto)
	}
	if internalPort == 0 {
		return errors.New("natpmp: internal port 0: use DeleteAll to delete all mappings")
	}
	if _, _, err := c.do(ctx, Request{Op: Opcode(proto), InternalPort: internalPort}); err != nil {
		return err
	}
	c.mu.Lock()
	delete(c.granted, mapKey{proto, internalPort})
	c.mu.Unlock()
	return nil
}

// DeleteAll removes all of this host's mappings of protocol proto on the
// gateway, including those made by other programs (a request with internal
// port 0 and lifetime 0, RFC 6886 §3.4).
//
// Gateway quirk: miniupnpd (2.3.1, as shipped by Debian; seen in the e2e
// tests) ignores the protocol of this request and removes the host's
// NAT-PMP mappings of both protocols.
func (c *Client) DeleteAll(ctx context.Context, proto Protocol) error {
	if !proto.valid() {
		return fmt.Errorf("natpmp: invalid protocol %v", proto)
	}
	if _, _, err := c.do(ctx, Request{Op: Opcode(proto)}); err != nil {
		return err
	}
	c.mu.Lock()
	for k := range c.granted {
		if k.proto == proto {
			delete(c.granted, k)
		}
	}
	c.mu.Unlock()
	return nil
}

// lifetimeSeconds converts a mapping lifetime for the wire.
func lifetimeSeconds(d time.Duration) (uint32, error) {
	if d <= 0 {
		return 0, fmt.Errorf("natpmp: lifetime %v is not positive (use Delete to delete a mapping)", d)
	}
	secs := (d + time.Second - 1) / time.Second
	if secs > math.MaxUint32 {
		secs = math.MaxUint32
	}
	return uint32(secs), nil
}
