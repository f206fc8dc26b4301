package portmaptest

import (
	"net/netip"
	"time"

	"github.com/portmap-dev/portmap/natpmp"
	"github.com/portmap-dev/portmap/pcp"
)

// announceInterval is the wait before the first repeat of an
// announcement; it doubles after each (RFC 6886 §3.2.1).
const announceInterval = 250 * time.Millisecond

// outPacket is one datagram to send.
type outPacket struct {
	to  netip.AddrPort
	pkt []byte
}

// announce tells clients about a (re)boot or a new external address:
// a NAT-PMP external address announcement and, after a boot, a PCP
// ANNOUNCE response to every Config.AnnounceAddrs; after an address
// change, an unsolicited MAP response to the client of every PCP mapping
// (RFC 6887 §14.2). The first round is sent before announce returns;
// repeats (Config.AnnounceCount) follow in the background.
func (g *Gateway) announce(boot bool) {
	build := func() []outPacket {
		g.mu.Lock()
		defer g.mu.Unlock()
		return g.announcementsLocked(boot, g.now())
	}
	g.writeAll(build())
	if g.cfg.AnnounceCount <= 1 {
		return
	}
	g.spawn(func() {
		wait := announceInterval
		for i := 1; i < g.cfg.AnnounceCount; i++ {
			if !g.sleep(wait) {
				return
			}
			wait *= 2
			g.writeAll(build())
		}
	})
}

func (g *Gateway) writeAll(pkts []outPacket) {
	for _, p := range pkts {
		g.write(p.to, [][]byte{p.pkt})
	}
}

func (g *Gateway) announcementsLocked(boot bool, now time.Time) []outPacket {
	if g.closed {
		return nil
	}
	epoch := g.epochLocked(now)
	var out []outPacket
	if g.cfg.serves(NATPMP) && g.extIP.IsValid() {
		// As miniupnpd: no announcement without a usable address.
		r := natpmp.Response{Op: natpmp.OpReply | natpmp.OpExternalAddress, Epoch: epoch, ExternalAddr: g.extIP}
		if b, err := r.MarshalBinary(); err == nil {
			for _, a := range g.cfg.AnnounceAddrs {
				out = append(out, outPacket{a, b})
			}
		}
	}
	if !g.servesPCPLocked() {
		return out
	}
	if boot {
		r := &pcp.Response{Version: pcp.Version, Opcode: pcp.OpAnnounce, Epoch: epoch}
		if b, err := r.MarshalBinary(); err == nil {
			for _, a := range g.cfg.AnnounceAddrs {
				out = append(out, outPacket{a, b})
			}
		}
		return out
	}
	if !g.extIP.IsValid() {
		return out
	}
	for _, e := range g.table.maps {
		if e.Protocol != PCP || !e.client.IsValid() {
			continue
		}
		r := &pcp.Response{
			Version: pcp.Version, Opcode: pcp.OpMap, Epoch: epoch,
			Lifetime: remaining(e.Expires, now), HasData: true,
			Data: pcp.MapData{
				Nonce: e.Nonce, Protocol: pcpProtocol(e.Transport), InternalPort: e.InternalPort,
				ExternalPort: e.ExternalPort, ExternalAddr: g.extIP,
			},
		}
		if b, err := r.MarshalBinary(); err == nil {
			out = append(out, outPacket{e.client, b})
		}
	}
	return out
}

func pcpProtocol(transport string) pcp.Protocol {
	if transport == "UDP" {
		return pcp.UDP
	}
	return pcp.TCP
}
