package pcp

import (
	"math/rand/v2"
	"net/netip"
	"time"
)

// Mapping is a mapping granted by the server: a MAP (inbound port mapping,
// or firewall pinhole for IPv6) or a PEER (outbound mapping toward one
// remote peer). Keep it to renew or delete the mapping: both must send the
// same nonce.
type Mapping struct {
	Opcode       Opcode // OpMap or OpPeer
	Protocol     Protocol
	InternalAddr netip.Addr // the client's address, or the THIRD_PARTY address
	InternalPort uint16
	// External is the assigned external address and port. They may differ
	// from the suggested ones. For an IPv6 pinhole it is the internal
	// address and port.
	External netip.AddrPort
	// Remote is the remote peer (PEER only).
	Remote netip.AddrPort
	// Lifetime is the granted lifetime, which may differ from Requested
	// (servers clamp it: miniupnpd to 120 s .. 86400 s by default).
	Lifetime  time.Duration
	Requested time.Duration
	Nonce     Nonce
	// Options are the options the mapping was requested with; renewals
	// send them again.
	Options Options
	Server  netip.AddrPort
	// Epoch is the server's epoch time in the response.
	Epoch uint32
	// Received is when the response arrived (client clock).
	Received time.Time
}

// Expires returns when the mapping ends unless renewed.
func (m *Mapping) Expires() time.Time { return m.Received.Add(m.Lifetime) }

// RenewAfter returns a random delay, from Received, at which to renew: in
// [1/2, 5/8] of the lifetime as RFC 6887 §11.2.1 recommends, so that
// clients do not synchronise.
func (m *Mapping) RenewAfter() time.Duration {
	return m.Lifetime/2 + time.Duration(rand.Float64()*float64(m.Lifetime/8))
}
