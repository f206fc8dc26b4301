package pcp

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// MapRequest asks for an inbound mapping (RFC 6887 §11).
type MapRequest struct {
	// Protocol is TCP, UDP, another IANA protocol number, or ProtocolAll
	// (then InternalPort must be 0).
	Protocol Protocol
	// InternalPort is the port on the internal host; 0 means all ports.
	InternalPort uint16
	// SuggestedExternal is the external address and port wished for; the
	// zero value means no preference. A zero port with an address, or an
	// unspecified address (0.0.0.0, ::) with a port, are allowed. Without
	// an address the mapping's family is the internal address's: IPv4 gets
	// a NAT44 mapping, IPv6 a firewall pinhole.
	SuggestedExternal netip.AddrPort
	// Lifetime is the requested lifetime, rounded up to whole seconds; it
	// must be positive (use [Client.Delete] to delete).
	Lifetime time.Duration
	// Nonce identifies the mapping; zero picks a new random one. Renewals
	// must repeat the nonce of the mapping ([Client.Renew] does).
	Nonce Nonce
	// Options: THIRD_PARTY, PREFER_FAILURE, FILTER.
	Options Options
}

// seconds converts a lifetime to whole seconds, rounding up and saturating.
func seconds(d time.Duration) uint32 {
	if d <= 0 {
		return 0
	}
	s := (d + time.Second - 1) / time.Second
	if s > 1<<32-1 {
		return 1<<32 - 1
	}
	return uint32(s)
}

// internalAddr is the address a mapping is for.
func (c *Client) internalAddr(o *Options) netip.Addr {
	if o.ThirdParty.IsValid() {
		return o.ThirdParty.Unmap()
	}
	return c.clientAddr
}

// Map creates (or, with the nonce of an existing mapping, renews) a MAP
// mapping. The granted external address, port and lifetime may differ from
// the suggested ones; they are in the returned [Mapping]. A refusal is a
// [*ResultError] (e.g. ADDRESS_MISMATCH when another NAT sits between this
// host and the server); a server without PCP gives a [*VersionError] at
// once. Requests are retransmitted per RFC 6887 §8.1.1 until ctx ends:
// give ctx a deadline.
func (c *Client) Map(ctx context.Context, r MapRequest) (*Mapping, error) {
	if r.Lifetime <= 0 {
		return nil, fmt.Errorf("%w: MAP lifetime must be positive (use Delete)", ErrInvalidRequest)
	}
	return c.mapOrPeer(ctx, OpMap, r, netip.AddrPort{})
}

func (c *Client) mapOrPeer(ctx context.Context, op Opcode, r MapRequest, remote netip.AddrPort) (*Mapping, error) {
	if r.Protocol == ProtocolAll && r.InternalPort != 0 {
		return nil, fmt.Errorf("%w: protocol 0 (all) needs internal port 0", ErrInvalidRequest)
	}
	if r.Nonce.IsZero() {
		r.Nonce = NewNonce()
	}
	internal := c.internalAddr(&r.Options)
	ext := r.SuggestedExternal.Addr()
	if !ext.IsValid() {
		ext = unspecifiedLike(internal)
	}
	req := &Request{
		Opcode:     op,
		Lifetime:   seconds(r.Lifetime),
		ClientAddr: c.clientAddr,
		Data: MapData{
			Nonce:        r.Nonce,
			Protocol:     r.Protocol,
			InternalPort: r.InternalPort,
			ExternalPort: r.SuggestedExternal.Port(),
			ExternalAddr: ext,
			RemotePort:   remote.Port(),
			RemoteAddr:   remote.Addr(),
		},
		Options: r.Options,
	}
	rep, err := c.do(ctx, req)
	if err != nil {
		return nil, err
	}
	resp := rep.resp
	granted := resp.external()
	if granted.Port() == 0 && r.InternalPort != 0 {
		// Quirk (miniupnpd 2.3.1): when it updates an existing IPv6 pinhole
		// it answers with the suggested external port unchanged, so a
		// request that suggested none gets port 0 back. A pinhole does not
		// translate ports, and a renewal keeps its port: use the internal
		// port for a pinhole, else the suggested one.
		switch {
		case granted.Addr() == internal && internal.Is6():
			granted = netip.AddrPortFrom(granted.Addr(), r.InternalPort)
		case r.SuggestedExternal.Port() != 0:
			granted = netip.AddrPortFrom(granted.Addr(), r.SuggestedExternal.Port())
		}
	}
	return &Mapping{
		Opcode:       op,
		Protocol:     r.Protocol,
		InternalAddr: internal,
		InternalPort: r.InternalPort,
		External:     granted,
		Remote:       remote,
		Lifetime:     time.Duration(resp.Lifetime) * time.Second,
		Requested:    r.Lifetime,
		Nonce:        r.Nonce,
		Options:      r.Options,
		Server:       c.server,
		Epoch:        resp.Epoch,
		Received:     rep.at,
	}, nil
}

// Renew renews m for m.Requested (or lifetime, if positive), sending the
// same nonce, protocol, internal port and options and suggesting the
// external address and port m was granted, so that the server keeps them.
// It also recreates a mapping lost in a server reboot, usually on the same
// port.
//
// Quirk (DESIGN.md field reports; miniupnpd behaves so too): PCP servers
// reject a renewal or deletion whose nonce differs from the one that
// created the mapping, so the nonce of m is always reused.
func (c *Client) Renew(ctx context.Context, m *Mapping, lifetime time.Duration) (*Mapping, error) {
	if lifetime <= 0 {
		lifetime = m.Requested
	}
	if lifetime <= 0 {
		lifetime = m.Lifetime
	}
	if lifetime <= 0 {
		return nil, fmt.Errorf("%w: no lifetime to renew with", ErrInvalidRequest)
	}
	r := MapRequest{
		Protocol:          m.Protocol,
		InternalPort:      m.InternalPort,
		SuggestedExternal: m.External,
		Lifetime:          lifetime,
		Nonce:             m.Nonce,
		Options:           m.Options,
	}
	if m.Opcode == OpPeer {
		return c.mapOrPeer(ctx, OpPeer, r, m.Remote)
	}
	return c.mapOrPeer(ctx, OpMap, r, netip.AddrPort{})
}

// Delete deletes m: a MAP (or PEER) request with lifetime 0 and m's nonce,
// protocol and internal port (RFC 6887 §15). miniupnpd 2.3.1 answers
// NO_RESOURCES when it has no such mapping (wrong nonce, or lost in a
// reboot); that is returned as a [*ResultError].
func (c *Client) Delete(ctx context.Context, m *Mapping) error {
	req := &Request{
		Opcode:     m.Opcode,
		Lifetime:   0,
		ClientAddr: c.clientAddr,
		Data: MapData{
			Nonce:        m.Nonce, // see the nonce quirk at Renew
			Protocol:     m.Protocol,
			InternalPort: m.InternalPort,
			ExternalPort: m.External.Port(),
			ExternalAddr: m.External.Addr(),
			RemotePort:   m.Remote.Port(),
			RemoteAddr:   m.Remote.Addr(),
		},
		Options: Options{ThirdParty: m.Options.ThirdParty},
	}
	if req.Opcode != OpPeer {
		req.Opcode = OpMap
	}
	if !req.Data.ExternalAddr.IsValid() {
		req.Data.ExternalAddr = unspecifiedLike(c.internalAddr(&m.Options))
	}
	_, err := c.do(ctx, req)
	if err != nil && m.isPinhole() && errors.Is(err, &ResultError{Code: NotAuthorized}) {
		// Quirk (miniupnpd 2.3.1, nftables backend): once a pinhole has been
		// renewed ("updating pinhole"), the server no longer recognises the
		// nonce in its description and refuses to delete it with
		// NOT_AUTHORIZED. The best left is to cut its lifetime to the
		// server's minimum (120 s there) with a renewal for 1 s.
		if cut, err2 := c.Renew(ctx, m, time.Second); err2 == nil {
			return fmt.Errorf("%w: %w; it now expires in %s", ErrLifetimeCut, err, cut.Lifetime)
		}
	}
	return err
}

// ErrLifetimeCut is returned (wrapping the server's refusal) by
// [Client.Delete] when the server refused to delete an IPv6 pinhole and
// its lifetime was cut to the server's minimum instead.
var ErrLifetimeCut = errors.New("pcp: deletion refused, lifetime cut to the minimum instead")

// isPinhole reports whether m is an IPv6 firewall pinhole (a MAP whose
// external address is the internal one) rather than a NAT mapping.
func (m *Mapping) isPinhole() bool {
	return m.Opcode == OpMap && m.InternalAddr.Is6() && m.External.Addr() == m.InternalAddr
}

// ExternalAddressLifetime is the lifetime of the probe mapping of
// [Client.ExternalAddress].
const ExternalAddressLifetime = 120 * time.Second

// ExternalAddress returns the server's external IPv4 address. PCP has no
// request for it (NAT-PMP's opcode 0 has no PCP equivalent), so it creates a
// MAP for UDP on the client's own socket port — a port this process owns, so
// the mapping can forward nothing unexpected — reads the assigned address
// and deletes the mapping at once. The lifetime asked is
// [ExternalAddressLifetime] (120 s: miniupnpd's minimum, so not clamped), in
// case the deletion is lost. miniupnpd has no mapping-less way: a MAP for
// protocol 0 (all) is refused there with MALFORMED_REQUEST. Use an IPv4
// server address: over IPv6 a firewall-only server such as miniupnpd
// reports this host's own IPv6 address.
func (c *Client) ExternalAddress(ctx context.Context) (netip.Addr, error) {
	m, err := c.Map(ctx, MapRequest{
		Protocol:          UDP,
		InternalPort:      c.LocalAddr().Port(),
		SuggestedExternal: netip.AddrPortFrom(netip.IPv4Unspecified(), 0),
		Lifetime:          ExternalAddressLifetime,
	})
	if err != nil {
		return netip.Addr{}, err
	}
	// Best effort: the mapping expires by itself if the deletion fails.
	_ = c.Delete(ctx, m)
	return m.External.Addr(), nil
}
