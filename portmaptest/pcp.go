package portmaptest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/portmap-dev/portmap/natpmp"
	"github.com/portmap-dev/portmap/pcp"
)

// pcpAction names a PCP opcode for FailNext and Request.Action.
func pcpAction(op pcp.Opcode) string {
	switch op {
	case pcp.OpAnnounce, pcp.OpMap, pcp.OpPeer:
		return "pcp:" + strings.ToLower(op.String())
	}
	return fmt.Sprintf("pcp:op%d", uint8(op))
}

// pcpErrorLifetime is the lifetime of an error response: as miniupnpd
// 2.3.1, 30 s for short-lifetime errors (RFC 6887 §7.4) and 0 for the
// others, so that clients do not hold long errors down in tests.
func pcpErrorLifetime(code pcp.ResultCode) uint32 {
	if code.ShortLifetime() {
		return 30
	}
	return 0
}

// handlePCP serves one PCP request (RFC 6887), or answers a NAT-PMP-only
// router's way when PCP is off.
func (g *Gateway) handlePCP(b []byte, from netip.AddrPort) {
	// RFC 6887 §8.3: shorter than 2 bytes, longer than 1100 or with the R
	// bit set (a response): silently dropped.
	if len(b) < 2 || len(b) > pcp.MaxMessageLen || b[1]&0x80 != 0 {
		return
	}
	op := pcp.Opcode(b[1] & 0x7f)
	g.mu.Lock()
	servesPCP := g.servesPCPLocked()
	g.mu.Unlock()
	if !servesPCP {
		if !g.cfg.serves(NATPMP) {
			return
		}
		// A NAT-PMP-only router answers anything that is not version 0
		// with its 8-byte "unsupported version" reply (RFC 6886 §3.5),
		// which PCP clients recognise (RFC 6887 §9).
		g.run(exchange{
			from: from,
			rec:  Request{Protocol: PCP, Action: pcpAction(op)},
			serve: func(now time.Time) ([][]byte, int) {
				return marshalNATPMP(natpmp.UnsupportedVersionResponse(g.epochLocked(now))), int(pcp.UnsuppVersion)
			},
		})
		return
	}
	req, err := pcp.ParseRequest(b)
	if err != nil {
		var de *pcp.DecodeError
		if !errors.As(err, &de) || de.Code == pcp.Success {
			return
		}
		action := pcpAction(op)
		if de.Code != pcp.UnsuppVersion && de.Code != pcp.UnsuppOpcode {
			action = "pcp:malformed"
		}
		g.run(exchange{
			from: from,
			rec:  Request{Protocol: PCP, Action: action, PCP: req},
			serve: func(now time.Time) ([][]byte, int) {
				return [][]byte{g.pcpErrorLocked(req, op, de.Code, now)}, int(de.Code)
			},
		})
		return
	}
	g.run(exchange{
		from: from,
		rec:  Request{Protocol: PCP, Action: pcpAction(req.Opcode), PCP: req},
		serve: func(now time.Time) ([][]byte, int) {
			resp := g.pcpServeLocked(req, from, now)
			out, err := resp.MarshalBinary()
			if err != nil {
				return nil, int(resp.Result)
			}
			return [][]byte{out}, int(resp.Result)
		},
		fail: func(code int, now time.Time) [][]byte {
			return [][]byte{g.pcpErrorLocked(req, req.Opcode, pcp.ResultCode(code), now)}
		},
	})
}

// pcpErrorLocked builds an error response to req (nil if it could not be
// decoded): header, and the request's MAP/PEER data echoed so that the
// client can match it (RFC 6887 §7.2).
func (g *Gateway) pcpErrorLocked(req *pcp.Request, op pcp.Opcode, code pcp.ResultCode, now time.Time) []byte {
	epoch := g.epochLocked(now)
	resp := &pcp.Response{Version: pcp.Version, Opcode: op, Result: code, Lifetime: pcpErrorLifetime(code), Epoch: epoch}
	if req != nil && req.Version == pcp.Version && (op == pcp.OpMap || op == pcp.OpPeer) && code != pcp.UnsuppVersion {
		resp.HasData = true
		resp.Data = req.Data
	}
	if b, err := resp.MarshalBinary(); err == nil {
		return b
	}
	// An opcode the codec does not know (UNSUPP_OPCODE): header only.
	b := make([]byte, pcp.HeaderLen)
	b[0] = pcp.Version
	b[1] = 0x80 | byte(op)
	b[3] = byte(code)
	binary.BigEndian.PutUint32(b[4:], resp.Lifetime)
	binary.BigEndian.PutUint32(b[8:], epoch)
	return b
}

// pcpServeLocked computes the response to a valid request.
func (g *Gateway) pcpServeLocked(req *pcp.Request, from netip.AddrPort, now time.Time) *pcp.Response {
	resp := &pcp.Response{Version: pcp.Version, Opcode: req.Opcode, Epoch: g.epochLocked(now)}
	fail := func(code pcp.ResultCode) *pcp.Response {
		resp.Result, resp.Lifetime = code, pcpErrorLifetime(code)
		if req.Opcode != pcp.OpAnnounce {
			resp.HasData, resp.Data = true, req.Data
		}
		return resp
	}
	// RFC 6887 §8.3: the client's address field must be the packet's
	// source, or a NAT sits in between.
	if req.ClientAddr.Unmap() != from.Addr() {
		return fail(pcp.AddressMismatch)
	}
	if req.Opcode == pcp.OpAnnounce {
		return resp // SUCCESS, lifetime 0: just the epoch
	}
	for _, o := range req.Options.Unknown {
		if o.Code.Mandatory() {
			return fail(pcp.UnsuppOption)
		}
	}
	internal := from.Addr()
	if tp := req.Options.ThirdParty; tp.IsValid() {
		if g.cfg.SecureMode && tp.Unmap() != internal {
			return fail(pcp.NotAuthorized)
		}
		internal = tp.Unmap()
	}
	var transport string
	switch req.Data.Protocol {
	case pcp.TCP:
		transport = "TCP"
	case pcp.UDP:
		transport = "UDP"
	case pcp.ProtocolAll:
		// As miniupnpd 2.3.1: a mapping of all protocols is refused.
		return fail(pcp.MalformedRequest)
	default:
		return fail(pcp.UnsuppProtocol)
	}
	if req.Lifetime != 0 && req.Data.InternalPort == 0 {
		// "All ports" mappings are not offered.
		return fail(pcp.NotAuthorized)
	}
	lifetime := min(max(time.Duration(req.Lifetime)*time.Second, g.cfg.PCPMinLifetime), g.cfg.PCPMaxLifetime)
	var (
		code pcp.ResultCode
		data pcp.MapData
	)
	switch {
	case internal.Is6():
		code, data = g.pcpPinholeLocked(req, internal, lifetime, now)
	case req.Opcode == pcp.OpPeer:
		code, data = g.pcpPeerLocked(req, transport, internal, from, lifetime, now)
	default:
		code, data = g.pcpMapLocked(req, transport, internal, from, lifetime, now)
	}
	if code != pcp.Success {
		return fail(code)
	}
	resp.HasData, resp.Data = true, data
	if req.Lifetime != 0 {
		resp.Lifetime = uint32(lifetime / time.Second)
	}
	resp.Options = req.Options
	resp.Options.Unknown = nil
	return resp
}

// pcpMapLocked creates, renews or deletes a MAP mapping (RFC 6887 §11.3).
func (g *Gateway) pcpMapLocked(req *pcp.Request, transport string, internal netip.Addr, from netip.AddrPort, lifetime time.Duration, now time.Time) (pcp.ResultCode, pcp.MapData) {
	d := req.Data
	find := func(port uint16) *entry {
		return g.table.find(func(e *entry) bool {
			return e.Protocol == PCP && e.Transport == transport && e.InternalAddr == internal && e.InternalPort == port
		})
	}
	if req.Lifetime == 0 {
		// Deletion. Port 0 deletes every mapping of the client with this
		// nonce; deleting a mapping that does not exist succeeds (§15).
		for {
			var e *entry
			if d.InternalPort != 0 {
				e = find(d.InternalPort)
			} else {
				e = g.table.find(func(e *entry) bool {
					return e.Protocol == PCP && e.Transport == transport && e.InternalAddr == internal && e.Nonce == d.Nonce
				})
			}
			if e == nil {
				break
			}
			// Quirk (DESIGN.md field reports; RFC 6887 §11.3): only the
			// nonce that created a mapping may delete it.
			if e.Nonce != d.Nonce {
				return pcp.NotAuthorized, d
			}
			g.table.delete(e.Transport, e.ExternalPort)
			g.changedLocked(svcIPConn)
			d.ExternalPort, d.ExternalAddr = e.ExternalPort, g.extIP
			if d.InternalPort != 0 {
				break
			}
		}
		return pcp.Success, d
	}
	if !g.extIP.IsValid() {
		return pcp.NetworkFailure, d
	}
	e := find(d.InternalPort)
	if e != nil && e.Nonce != d.Nonce {
		// Someone else's mapping of this internal port (or a client that
		// lost its nonce): refused, as real servers do.
		return pcp.NotAuthorized, d
	}
	if e == nil {
		prefer := req.Options.PreferFailure
		if sug := d.ExternalAddr.Unmap(); sug.IsValid() && !sug.IsUnspecified() && sug != g.extIP && prefer {
			return pcp.CannotProvideExternal, d
		}
		want := d.ExternalPort
		if want == 0 {
			want = d.InternalPort
		}
		port := want
		if !g.table.free(transport, want) {
			if prefer {
				return pcp.CannotProvideExternal, d
			}
			var ok bool
			if port, ok = g.table.nearestFree(transport, want); !ok {
				return pcp.NoResources, d
			}
		}
		e = &entry{Mapping: Mapping{
			Protocol: PCP, Transport: transport, ExternalPort: port,
			InternalAddr: internal, InternalPort: d.InternalPort, Enabled: true,
			Description: "PCP MAP", Nonce: d.Nonce,
		}}
		if err := g.table.put(e); err != nil {
			return pcp.NoResources, d
		}
		g.changedLocked(svcIPConn)
	}
	e.Lifetime, e.Expires, e.Created, e.client = lifetime, expiry(now, lifetime), now, from
	d.ExternalPort, d.ExternalAddr = e.ExternalPort, g.extIP
	return pcp.Success, d
}

// pcpPeerLocked creates, renews or deletes a PEER mapping (RFC 6887 §12).
// The external port is the one of a MAP of the same internal port if there
// is one (endpoint-independent mapping), else the suggested or internal
// port if free, else the nearest free one.
func (g *Gateway) pcpPeerLocked(req *pcp.Request, transport string, internal netip.Addr, from netip.AddrPort, lifetime time.Duration, now time.Time) (pcp.ResultCode, pcp.MapData) {
	d := req.Data
	in := netip.AddrPortFrom(internal, d.InternalPort)
	remote := netip.AddrPortFrom(d.RemoteAddr.Unmap(), d.RemotePort)
	e := g.table.findPeer(transport, in, remote)
	if e != nil && e.Nonce != d.Nonce {
		return pcp.NotAuthorized, d
	}
	if req.Lifetime == 0 {
		if e != nil {
			g.table.deletePeer(e)
			d.ExternalPort, d.ExternalAddr = e.ExternalPort, g.extIP
		}
		return pcp.Success, d
	}
	if !g.extIP.IsValid() {
		return pcp.NetworkFailure, d
	}
	if e == nil {
		var port uint16
		if m := g.table.find(func(m *entry) bool {
			return m.Transport == transport && m.InternalAddr == internal && m.InternalPort == d.InternalPort
		}); m != nil {
			port = m.ExternalPort
		} else {
			want := d.ExternalPort
			if want == 0 {
				want = d.InternalPort
			}
			var ok bool
			if port, ok = g.table.nearestFree(transport, want); !ok {
				return pcp.NoResources, d
			}
		}
		e = &entry{Mapping: Mapping{
			Protocol: PCP, Transport: transport, ExternalPort: port,
			InternalAddr: internal, InternalPort: d.InternalPort,
			RemoteHost: remote.Addr(), RemotePort: remote.Port(), Peer: true,
			Enabled: true, Description: "PCP PEER", Nonce: d.Nonce,
		}}
		if err := g.table.putPeer(e); err != nil {
			return pcp.NoResources, d
		}
	}
	e.Lifetime, e.Expires, e.Created, e.client = lifetime, expiry(now, lifetime), now, from
	d.ExternalPort, d.ExternalAddr = e.ExternalPort, g.extIP
	return pcp.Success, d
}

// pcpPinholeLocked handles a MAP (or PEER) from an IPv6 client: no
// translation, a firewall pinhole whose external address and port are
// the internal ones (as miniupnpd does).
func (g *Gateway) pcpPinholeLocked(req *pcp.Request, internal netip.Addr, lifetime time.Duration, now time.Time) (pcp.ResultCode, pcp.MapData) {
	d := req.Data
	proto := uint16(d.Protocol)
	p := g.pinholes.find(func(p *Pinhole) bool {
		return p.Protocol == PCP && p.InternalClient == internal && p.InternalPort == d.InternalPort && p.IPProtocol == proto
	})
	if p != nil && p.Nonce != d.Nonce {
		return pcp.NotAuthorized, d
	}
	if req.Lifetime == 0 {
		if p != nil {
			delete(g.pinholes.byID, p.ID)
		}
		return pcp.Success, d
	}
	if p == nil {
		p = &Pinhole{Protocol: PCP, InternalClient: internal, InternalPort: d.InternalPort, IPProtocol: proto, Nonce: d.Nonce}
		if req.Opcode == pcp.OpPeer {
			p.RemoteHost, p.RemotePort = d.RemoteAddr.Unmap(), d.RemotePort
		}
		if _, ok := g.pinholes.add(p); !ok {
			return pcp.NoResources, d
		}
	}
	p.Lifetime, p.Expires = lifetime, now.Add(lifetime)
	d.ExternalAddr, d.ExternalPort = internal, d.InternalPort
	return pcp.Success, d
}
