package portmaptest

import (
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/portmap-dev/portmap/upnp"
)

// WANIPv6FirewallControl:1 error codes used below.
const (
	errPinholeSpace    = int(upnp.ErrPinholeSpaceExhausted)
	errFirewallOff     = int(upnp.ErrFirewallDisabled)
	errInboundRefused  = int(upnp.ErrInboundPinholeNotAllowed)
	errNoSuchPinhole   = int(upnp.ErrNoSuchEntry)
	errProtocolUnsupp  = int(upnp.ErrProtocolNotSupported)
	errPortWildcard    = int(upnp.ErrInternalPortWildcardingNotAllowed)
	errNoPacketSent    = int(upnp.ErrNoPacketSent)
	maxPinholeLease    = 86400 * time.Second
	outboundTimeout    = 120 // GetOutboundPinholeTimeout's answer, seconds
	protoAny           = 65535
	pinholeProtoTCP    = 6
	pinholeProtoUDP    = 17
	pinholeProtoUDPLte = 136
)

// firewallActionLocked runs a WANIPv6FirewallControl action. As miniupnpd
// in secure mode, pinholes may only be opened for, and managed by, the
// calling address (606 otherwise).
func (g *Gateway) firewallActionLocked(action string, a argList, caller netip.Addr, now time.Time) ([]Arg, int) {
	switch action {
	case "GetFirewallStatus":
		return []Arg{{"FirewallEnabled", boolText(g.fwEnabled)}, {"InboundPinholeAllowed", boolText(g.fwInbound)}}, 0
	case "GetOutboundPinholeTimeout":
		if _, code := g.pinholeSpec(a, caller, false); code != 0 {
			return nil, code
		}
		return []Arg{{"OutboundPinholeTimeout", strconv.Itoa(outboundTimeout)}}, 0
	case "AddPinhole":
		return g.addPinholeLocked(a, caller, now)
	case "UpdatePinhole":
		p, code := g.pinholeArg(a, caller)
		if code != 0 {
			return nil, code
		}
		lease, ok := uintArg(a, "NewLeaseTime")
		d := time.Duration(lease) * time.Second
		if !ok || lease == 0 || d > maxPinholeLease {
			return nil, errInvalidArgs
		}
		p.Lifetime, p.Expires = d, now.Add(d)
		return nil, 0
	case "DeletePinhole":
		p, code := g.pinholeArg(a, caller)
		if code != 0 {
			return nil, code
		}
		delete(g.pinholes.byID, p.ID)
		return nil, 0
	case "GetPinholePackets":
		p, code := g.pinholeArg(a, caller)
		if code != 0 {
			return nil, code
		}
		return []Arg{{"PinholePackets", strconv.FormatUint(uint64(p.Packets), 10)}}, 0
	case "CheckPinholeWorking":
		p, code := g.pinholeArg(a, caller)
		if code != 0 {
			return nil, code
		}
		if p.Packets == 0 {
			return nil, errNoPacketSent // as miniupnpd: no traffic seen yet
		}
		return []Arg{{"IsWorking", "1"}}, 0
	}
	return nil, errInvalidAction
}

// pinholeSpec reads the pinhole description arguments shared by AddPinhole
// and GetOutboundPinholeTimeout.
func (g *Gateway) pinholeSpec(a argList, caller netip.Addr, withLease bool) (Pinhole, int) {
	var p Pinhole
	remote, _ := a.get("RemoteHost")
	if r := strings.TrimSpace(remote); r != "" && r != "*" {
		ip, err := netip.ParseAddr(r)
		if err != nil || !ip.Is6() || ip.Is4In6() {
			return p, errInvalidArgs
		}
		p.RemoteHost = ip
	}
	client, _ := a.get("InternalClient")
	ip, err := netip.ParseAddr(strings.TrimSpace(client))
	if err != nil || !ip.Is6() || ip.Is4In6() {
		return p, errInvalidArgs
	}
	p.InternalClient = ip
	rport, _, ok1 := portArg(a, "RemotePort")
	iport, _, ok2 := portArg(a, "InternalPort")
	proto, ok3 := uintArg(a, "Protocol")
	if !ok1 || !ok2 || !ok3 {
		return p, errInvalidArgs
	}
	switch proto {
	case pinholeProtoTCP, pinholeProtoUDP, pinholeProtoUDPLte, protoAny:
	default:
		return p, errProtocolUnsupp
	}
	p.RemotePort, p.InternalPort, p.IPProtocol = rport, iport, uint16(proto)
	if withLease {
		lease, ok := uintArg(a, "LeaseTime")
		d := time.Duration(lease) * time.Second
		if !ok || lease == 0 || d > maxPinholeLease {
			return p, errInvalidArgs
		}
		p.Lifetime = d
	}
	if g.cfg.SecureMode && caller != p.InternalClient {
		return p, errNotAuthorized
	}
	return p, 0
}

func (g *Gateway) addPinholeLocked(a argList, caller netip.Addr, now time.Time) ([]Arg, int) {
	if !g.fwEnabled {
		return nil, errFirewallOff
	}
	if !g.fwInbound {
		return nil, errInboundRefused
	}
	p, code := g.pinholeSpec(a, caller, true)
	if code != 0 {
		return nil, code
	}
	if p.InternalPort == 0 && p.IPProtocol != protoAny {
		return nil, errPortWildcard
	}
	p.Protocol, p.Expires = UPnP, now.Add(p.Lifetime)
	// The same pinhole again updates its lease and keeps its UniqueID, as
	// miniupnpd does.
	if old := g.pinholes.find(func(o *Pinhole) bool {
		return o.Protocol == UPnP && o.RemoteHost == p.RemoteHost && o.RemotePort == p.RemotePort &&
			o.InternalClient == p.InternalClient && o.InternalPort == p.InternalPort && o.IPProtocol == p.IPProtocol
	}); old != nil {
		old.Lifetime, old.Expires = p.Lifetime, p.Expires
		return []Arg{{"UniqueID", strconv.Itoa(int(old.ID))}}, 0
	}
	id, ok := g.pinholes.add(&p)
	if !ok {
		return nil, errPinholeSpace
	}
	return []Arg{{"UniqueID", strconv.Itoa(int(id))}}, 0
}

// pinholeArg finds the pinhole named by UniqueID: 402 if the argument is
// bad, 704 NoSuchEntry if there is none, 606 in secure mode if it belongs
// to another address.
func (g *Gateway) pinholeArg(a argList, caller netip.Addr) (*Pinhole, int) {
	id, _, ok := portArg(a, "UniqueID")
	if !ok {
		return nil, errInvalidArgs
	}
	p := g.pinholes.byID[id]
	if p == nil {
		return nil, errNoSuchPinhole
	}
	if g.cfg.SecureMode && p.InternalClient != caller {
		return nil, errNotAuthorized
	}
	return p, 0
}
