package portmap

import (
	"context"
	"net/netip"

	"github.com/portmap-dev/portmap/pcp"
)

// pcpAddPinhole sends a MAP over IPv6: RFC 6887's "IPv6 firewall" case,
// where the granted external address and port are the internal ones.
func (c *Client) pcpAddPinhole(ctx context.Context, path ipv6Path, from netip.Addr, req PinholeRequest) (Pinhole, error) {
	r := pcp.MapRequest{
		Protocol:     pcpProto(req.Transport),
		InternalPort: req.InternalPort,
		Lifetime:     req.Lifetime,
	}
	if req.InternalIP != from {
		r.Options.ThirdParty = req.InternalIP
	}
	if req.RemoteIP.IsValid() {
		r.Options.Filters = []pcp.Filter{{Remote: netip.PrefixFrom(req.RemoteIP, 128), RemotePort: req.RemotePort}}
	} else if req.RemotePort != 0 {
		// A FILTER with prefix length 0 means "no filter" (§13.3).
		return Pinhole{}, invalidf("pcp filters senders by address (and port), not by port alone: give the remote address too")
	}
	pc, err := c.pcpPinholeClient(path, from)
	if err != nil {
		return Pinhole{}, err
	}
	defer pc.Close()
	m, err := pc.Map(ctx, r)
	if err != nil {
		return Pinhole{}, err
	}
	return pcpPinhole(path, req.Transport, m, remoteAddrPort(req.RemoteIP, req.RemotePort)), nil
}

func pcpPinhole(path ipv6Path, tr Transport, m *pcp.Mapping, remote netip.AddrPort) Pinhole {
	return Pinhole{
		Protocol:  PCP,
		Gateway:   path.gateway,
		Nonce:     append([]byte(nil), m.Nonce[:]...),
		Transport: tr,
		Internal:  netip.AddrPortFrom(m.InternalAddr.Unmap(), m.InternalPort),
		Remote:    remote,
		Lifetime:  m.Lifetime,
		Expires:   m.Expires(),
	}
}

func (c *Client) pcpPinholeClient(path ipv6Path, from netip.Addr) (*pcp.Client, error) {
	port := c.opts.GatewayPort
	if port == 0 {
		port = pcp.ServerPort
	}
	return pcp.NewClient(netip.AddrPortFrom(path.gateway, port),
		pcp.WithFirstTimeout(pcpFirstTimeout), pcp.WithLocalAddr(from), pcp.WithLogger(c.opts.logger()))
}

// pcpPinholeMapping rebuilds the PCP mapping of p, nonce included, with a
// client to send its renewal or deletion from.
func (c *Client) pcpPinholeMapping(path ipv6Path, p Pinhole) (*pcp.Client, *pcp.Mapping, error) {
	var nonce pcp.Nonce
	if len(p.Nonce) != len(nonce) {
		return nil, nil, invalidf("the PCP pinhole to %s/%s has no nonce; PCP renews and deletes only with the nonce that made it", p.Internal, p.Transport)
	}
	copy(nonce[:], p.Nonce)
	internal := p.Internal.Addr()
	if !internal.IsValid() {
		internal = path.local
	}
	from := path.sourceFor(internal)
	pc, err := c.pcpPinholeClient(path, from)
	if err != nil {
		return nil, nil, err
	}
	m := &pcp.Mapping{
		Opcode:       pcp.OpMap,
		Protocol:     pcpProto(p.Transport),
		InternalAddr: internal,
		InternalPort: p.Internal.Port(),
		External:     netip.AddrPortFrom(internal, p.Internal.Port()),
		Lifetime:     p.Lifetime,
		Requested:    p.Lifetime,
		Nonce:        nonce,
		Server:       pc.Server(),
	}
	if internal != from {
		m.Options.ThirdParty = internal
	}
	if ra := p.RemoteIP(); ra.IsValid() {
		m.Options.Filters = []pcp.Filter{{Remote: netip.PrefixFrom(ra, 128), RemotePort: p.Remote.Port()}}
	}
	return pc, m, nil
}
