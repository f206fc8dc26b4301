package pcp

import (
	"context"
	"fmt"
	"net/netip"
	"time"
)

// PeerRequest asks for (or renews) an outbound mapping toward one remote
// peer (RFC 6887 §12), e.g. to learn the external address and port of an
// existing connection and keep its NAT state alive.
type PeerRequest struct {
	Protocol          Protocol
	InternalPort      uint16
	SuggestedExternal netip.AddrPort // zero: no preference
	// Remote is the remote peer's address and port.
	Remote     netip.AddrPort
	Lifetime   time.Duration
	Nonce      Nonce      // zero: a new random one
	ThirdParty netip.Addr // THIRD_PARTY internal address; zero: this host
}

// Peer creates or renews a PEER mapping. The result is a [Mapping] with
// Opcode OpPeer; renew and delete it with [Client.Renew] and
// [Client.Delete].
func (c *Client) Peer(ctx context.Context, r PeerRequest) (*Mapping, error) {
	if r.Lifetime <= 0 {
		return nil, fmt.Errorf("%w: PEER lifetime must be positive (use Delete)", ErrInvalidRequest)
	}
	if !r.Remote.Addr().IsValid() {
		return nil, fmt.Errorf("%w: PEER needs a remote peer address", ErrInvalidRequest)
	}
	remote := netip.AddrPortFrom(r.Remote.Addr().Unmap(), r.Remote.Port())
	return c.mapOrPeer(ctx, OpPeer, MapRequest{
		Protocol:          r.Protocol,
		InternalPort:      r.InternalPort,
		SuggestedExternal: r.SuggestedExternal,
		Lifetime:          r.Lifetime,
		Nonce:             r.Nonce,
		Options:           Options{ThirdParty: r.ThirdParty},
	}, remote)
}
