package portmaptest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/portmap-dev/portmap/natpmp"
)

// natpmpAction names a NAT-PMP opcode for FailNext and Request.Action.
func natpmpAction(op natpmp.Opcode) string {
	switch op {
	case natpmp.OpExternalAddress:
		return "natpmp:address"
	case natpmp.OpMapTCP, natpmp.OpMapUDP:
		return "natpmp:map"
	}
	return fmt.Sprintf("natpmp:op%d", uint8(op))
}

// handleNATPMP serves one NAT-PMP request (RFC 6886).
func (g *Gateway) handleNATPMP(b []byte, from netip.AddrPort) {
	if !g.cfg.serves(NATPMP) {
		return
	}
	req, err := natpmp.ParseRequest(b)
	var re *natpmp.ResultError
	switch {
	case err == nil:
	case errors.As(err, &re) && re.Code == natpmp.ResultUnsupportedOpcode:
		// RFC 6886 §3.5: answer unknown opcodes with result 5. The codec
		// encodes only the opcodes it knows, so the 8-byte header is
		// written here.
		g.run(exchange{
			from: from,
			rec:  Request{Protocol: NATPMP, Action: natpmpAction(re.Op)},
			serve: func(now time.Time) ([][]byte, int) {
				return [][]byte{natpmpShort(natpmp.OpReply|re.Op, natpmp.ResultUnsupportedOpcode, g.epochLocked(now))}, int(natpmp.ResultUnsupportedOpcode)
			},
		})
		return
	default:
		// Malformed (or a reply): ignored, as RFC 6886 says, but recorded.
		g.mu.Lock()
		g.recordLocked(Request{Time: g.now(), Protocol: NATPMP, Action: "natpmp:malformed", From: from, Code: Drop})
		g.mu.Unlock()
		return
	}
	r := req
	g.run(exchange{
		from: from,
		rec:  Request{Protocol: NATPMP, Action: natpmpAction(req.Op), NATPMP: &r},
		serve: func(now time.Time) ([][]byte, int) {
			resp := g.natpmpServeLocked(req, from.Addr(), now)
			if g.cfg.NATPMPTruncatedPorts && req.Op != natpmp.OpExternalAddress {
				// Quirk of miniupnpd 1.8.20140523 (see Config).
				resp.InternalPort &= 0xff
				resp.ExternalPort &= 0xff
			}
			return marshalNATPMP(resp), int(resp.Result)
		},
		fail: func(code int, now time.Time) [][]byte {
			resp := natpmp.Response{Op: natpmp.OpReply | req.Op, Result: natpmp.ResultCode(code), Epoch: g.epochLocked(now)}
			if req.Op == natpmp.OpExternalAddress {
				resp.ExternalAddr = netip.IPv4Unspecified()
			} else {
				resp.InternalPort = req.InternalPort
			}
			return marshalNATPMP(resp)
		},
	})
}

func marshalNATPMP(r natpmp.Response) [][]byte {
	b, err := r.MarshalBinary()
	if err != nil {
		return nil
	}
	return [][]byte{b}
}

// natpmpShort is the 8-byte reply: version, opcode, result, epoch.
func natpmpShort(op natpmp.Opcode, code natpmp.ResultCode, epoch uint32) []byte {
	b := []byte{natpmp.Version, byte(op), 0, 0, 0, 0, 0, 0}
	binary.BigEndian.PutUint16(b[2:], uint16(code))
	binary.BigEndian.PutUint32(b[4:], epoch)
	return b
}

// natpmpServeLocked computes the reply to a decoded request from sender.
func (g *Gateway) natpmpServeLocked(req natpmp.Request, sender netip.Addr, now time.Time) natpmp.Response {
	resp := natpmp.Response{Op: natpmp.OpReply | req.Op, Epoch: g.epochLocked(now)}
	if req.Op == natpmp.OpExternalAddress {
		resp.ExternalAddr = g.extIP
		if !g.extIP.IsValid() {
			// As miniupnpd: no usable external address is result 3
			// (Network Failure) with address 0.0.0.0.
			resp.ExternalAddr = netip.IPv4Unspecified()
			resp.Result = natpmp.ResultNetworkFailure
		}
		return resp
	}
	resp.InternalPort = req.InternalPort
	transport := "TCP"
	if req.Op == natpmp.OpMapUDP {
		transport = "UDP"
	}
	if req.Lifetime == 0 {
		g.natpmpDeleteLocked(transport, sender, req.InternalPort)
		return resp // external port 0 and lifetime 0 mean "deleted"
	}
	if req.InternalPort == 0 {
		// Internal port 0 is only meaningful for deletion; miniupnpd
		// answers 2 (Not Authorized/Refused).
		resp.Result = natpmp.ResultNotAuthorized
		return resp
	}
	if !g.extIP.IsValid() {
		resp.Result = natpmp.ResultNetworkFailure
		return resp
	}
	lifetime := time.Duration(req.Lifetime) * time.Second
	// RFC 6886 §3.3: a request for an internal port the client has
	// already mapped renews that mapping and keeps its external port.
	e := g.table.find(func(e *entry) bool {
		return e.Protocol == NATPMP && e.Transport == transport && e.InternalAddr == sender && e.InternalPort == req.InternalPort
	})
	if e == nil {
		want := req.SuggestedExternalPort
		if want == 0 {
			want = req.InternalPort // as miniupnpd: same port as the internal one
		}
		port, ok := g.table.nearestFree(transport, want)
		if !ok {
			resp.Result = natpmp.ResultOutOfResources
			return resp
		}
		e = &entry{Mapping: Mapping{
			Protocol: NATPMP, Transport: transport, ExternalPort: port,
			InternalAddr: sender, InternalPort: req.InternalPort, Enabled: true,
			// miniupnpd's description, which its deletion looks for.
			Description: fmt.Sprintf("NAT-PMP %d %s", port, map[string]string{"TCP": "tcp", "UDP": "udp"}[transport]),
		}}
		if err := g.table.put(e); err != nil {
			resp.Result = natpmp.ResultOutOfResources
			return resp
		}
		g.changedLocked(svcIPConn)
	}
	e.Lifetime, e.Expires, e.Created = lifetime, expiry(now, lifetime), now
	resp.ExternalPort = e.ExternalPort
	resp.Lifetime = req.Lifetime
	return resp
}

// natpmpDeleteLocked deletes sender's NAT-PMP mappings of transport for
// internalPort, or all of them for port 0 (RFC 6886 §3.4). As miniupnpd,
// only mappings made with NAT-PMP are touched.
func (g *Gateway) natpmpDeleteLocked(transport string, sender netip.Addr, internalPort uint16) {
	changed := false
	for {
		e := g.table.find(func(e *entry) bool {
			return e.Protocol == NATPMP && e.Transport == transport && e.InternalAddr == sender &&
				(internalPort == 0 || e.InternalPort == internalPort)
		})
		if e == nil {
			break
		}
		g.table.delete(e.Transport, e.ExternalPort)
		changed = true
	}
	if changed {
		g.changedLocked(svcIPConn)
	}
}
