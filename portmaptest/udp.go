package portmaptest

import (
	"errors"
	"net"
	"net/netip"
	"time"
)

// maxDatagram bounds every datagram read: PCP messages are at most 1100
// bytes and SSDP searches a few hundred; anything larger is ignored.
const maxDatagram = 2048

// serveUDP reads datagrams until the socket is closed and hands each to
// the protocol it belongs to.
func (g *Gateway) serveUDP() {
	buf := make([]byte, maxDatagram+1)
	for {
		n, from, err := g.udp.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			select {
			case <-g.closing:
				return
			default:
				continue // e.g. a transient error; the socket is still open
			}
		}
		if n > maxDatagram {
			continue
		}
		g.mu.Lock()
		g.stats.pktsIn++
		g.stats.bytesIn += uint64(n)
		g.mu.Unlock()
		g.handleDatagram(buf[:n], netip.AddrPortFrom(from.Addr().Unmap(), from.Port()))
	}
}

// handleDatagram demultiplexes by content: version 0 is NAT-PMP, an
// upper-case letter starts an SSDP text message, the rest is PCP (which
// answers versions it does not speak with UNSUPP_VERSION).
func (g *Gateway) handleDatagram(b []byte, from netip.AddrPort) {
	switch {
	case len(b) == 0:
	case b[0] == 0:
		g.handleNATPMP(b, from)
	case b[0] >= 'A' && b[0] <= 'Z':
		g.handleSSDP(b, from)
	default:
		g.handlePCP(b, from)
	}
}

// exchange is one UDP request being served.
type exchange struct {
	from netip.AddrPort
	// rec is the capture record, with Protocol, Action and the decoded
	// request filled in.
	rec Request
	// serve computes the replies and the result code; fail builds the
	// reply carrying an injected code. Both run with the gateway's mutex
	// held.
	serve func(now time.Time) (replies [][]byte, code int)
	fail  func(code int, now time.Time) [][]byte
}

// run applies the knobs, serves x, records it and sends the replies.
func (g *Gateway) run(x exchange) {
	g.mu.Lock()
	now := g.now()
	g.tickLocked(now)
	rec := x.rec
	rec.Time, rec.From = now, x.from
	drop, code, injected := g.decideLocked(rec.Action, true)
	var replies [][]byte
	switch {
	case drop:
		rec.Code, rec.Injected = Drop, true
	case injected:
		rec.Code, rec.Injected = code, true
		if x.fail != nil {
			replies = x.fail(code, now)
		}
	default:
		replies, rec.Code = x.serve(now)
	}
	g.recordLocked(rec)
	delay := g.faults.delay
	g.mu.Unlock()
	g.sendUDP(x.from, replies, delay)
}

// sendUDP sends pkts to to, after delay (in a goroutine) if there is one.
func (g *Gateway) sendUDP(to netip.AddrPort, pkts [][]byte, delay time.Duration) {
	if len(pkts) == 0 {
		return
	}
	if delay <= 0 {
		g.write(to, pkts)
		return
	}
	g.spawn(func() {
		if g.sleep(delay) {
			g.write(to, pkts)
		}
	})
}

func (g *Gateway) write(to netip.AddrPort, pkts [][]byte) {
	for _, p := range pkts {
		if g.sendHook != nil {
			g.sendHook(to, p)
			continue
		}
		if _, err := g.udp.WriteToUDPAddrPort(p, to); err != nil {
			continue
		}
		g.mu.Lock()
		g.stats.pktsOut++
		g.stats.bytesOut += uint64(len(p))
		g.mu.Unlock()
	}
}
