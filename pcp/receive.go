package pcp

import (
	"errors"
	"net"
	"net/netip"
	"syscall"
	"time"
)

// readLoop reads the client's socket until it is closed, validating and
// dispatching what arrives.
func (c *Client) readLoop() {
	defer c.wg.Done()
	buf := make([]byte, MaxMessageLen+4) // one word more: longer packets are detected and dropped
	for {
		n, src, err := c.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if errors.Is(err, syscall.ECONNREFUSED) {
				c.failAll(ErrUnreachable)
				continue
			}
			select {
			case <-c.done:
				return
			default:
			}
			// Other errors are transient (e.g. a truncated datagram on
			// some systems); wait a little so a persistent one cannot spin.
			time.Sleep(10 * time.Millisecond)
			continue
		}
		c.receive(buf[:n], src, c.cfg.clock.Now())
	}
}

// receive validates a datagram that arrived from src on the client's own
// socket and handles it. The socket is connected to the server, so the
// system already filters other sources on most platforms; the check here
// is what RFC 6887 §8.3 requires whatever the platform does.
func (c *Client) receive(b []byte, src netip.AddrPort, now time.Time) {
	src = netip.AddrPortFrom(src.Addr().Unmap().WithZone(""), src.Port())
	// RFC 6887 §8.3: only responses from the server's address and port.
	if src != netip.AddrPortFrom(c.server.Addr().WithZone(""), c.server.Port()) {
		c.drop("wrong source", src)
		return
	}
	resp, err := ParseResponse(b)
	if err != nil {
		c.drop(err.Error(), src)
		return
	}
	c.logDebug("pcp: response", "server", src, "opcode", resp.Opcode, "result", resp.Result, "lifetime", resp.Lifetime, "epoch", resp.Epoch)
	c.handle(resp, src, now, false)
}

// drop counts (and logs) a packet that is not a valid response.
func (c *Client) drop(why string, src netip.AddrPort) {
	c.mu.Lock()
	c.stats.Dropped++
	c.mu.Unlock()
	c.logDebug("pcp: dropped packet", "from", src, "reason", why)
}

// failAll ends every unanswered call with err.
func (c *Client) failAll(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for cl := range c.calls {
		if !cl.answered {
			cl.answered = true
			cl.ch <- reply{err: err}
		}
	}
}

// epochFor returns the epoch state of server address a. c.mu is held.
func (c *Client) epochFor(a netip.Addr) *EpochState {
	a = a.Unmap().WithZone("")
	e := c.epochs[a]
	if e == nil {
		if len(c.epochs) >= 64 { // bound: forget strangers, keep our server
			for k := range c.epochs {
				if k != c.server.Addr() {
					delete(c.epochs, k)
				}
			}
		}
		e = new(EpochState)
		c.epochs[a] = e
	}
	return e
}

// handle processes a valid response from src, solicited or not: it
// validates the epoch (RFC 6887 §8.5), hands solicited responses to their
// call and turns the others into events. multicast is true for messages
// received by ListenAnnouncements.
func (c *Client) handle(resp *Response, src netip.AddrPort, now time.Time, multicast bool) {
	var evs []Event
	fromServer := src.Addr().WithZone("") == c.server.Addr().WithZone("")
	c.mu.Lock()
	rebooted := false
	if resp.Version == Version {
		if !c.epochFor(src.Addr()).Observe(resp.Epoch, now) {
			rebooted = true
			c.stats.Reboots++
			evs = append(evs, Event{Kind: EventReboot, Server: src, FromServer: fromServer, Epoch: resp.Epoch, Response: resp, Received: now})
		}
	}
	if !multicast {
		c.stats.Responses++
	}
	matched := false
	if !multicast {
		for _, cl := range c.match(resp) {
			matched = true
			cl.answered = true
			cl.ch <- reply{resp: resp, rebooted: rebooted, at: now} // never blocks: first and only send
			if resp.Opcode == OpAnnounce {
				// Answers to the call's earlier transmissions may still
				// come; they are not unsolicited announcements.
				c.lateAnnounces = min(c.lateAnnounces+cl.sent-1, 64)
			}
		}
		if matched && (resp.Opcode == OpMap || resp.Opcode == OpPeer) {
			c.remember(resp)
		}
	}
	if !matched && resp.Version == Version {
		switch resp.Opcode {
		case OpAnnounce:
			if !multicast && c.lateAnnounces > 0 {
				c.lateAnnounces--
				c.stats.Dropped++
				break
			}
			evs = append(evs, Event{Kind: EventAnnounce, Server: src, FromServer: fromServer, Epoch: resp.Epoch, Response: resp, Received: now})
		case OpMap, OpPeer:
			if c.isDuplicate(resp) {
				// A late answer to a retransmission of a completed call.
				c.stats.Dropped++
			} else {
				c.stats.UnsolicitedMaps++
				evs = append(evs, Event{Kind: EventMapping, Server: src, FromServer: fromServer, Epoch: resp.Epoch, Response: resp, Received: now})
			}
		}
	}
	c.mu.Unlock()
	for _, ev := range evs {
		c.emit(ev)
	}
	if multicast && !fromServer && c.onServerLink(src.Addr()) {
		c.checkServer(src)
	}
}

// match returns the unanswered calls resp answers: one, or none. A reply
// that cannot name its request answers every call it may belong to: a
// header-only error response (the server could not parse the request, so
// it echoed no nonce, e.g. MALFORMED_REQUEST) every call of its opcode,
// and an UNSUPP_VERSION reply of another version (a NAT-PMP server's, or
// the PCP draft's) every call, since the server speaks no version 2 at
// all. Such errors concern the server rather than one request; handing
// them to one call picked at random would fail it and leave the others
// retransmitting into the same error. c.mu is held.
func (c *Client) match(resp *Response) []*call {
	var all []*call
	for cl := range c.calls {
		if cl.answered {
			continue
		}
		q := cl.req
		if resp.Version != Version {
			all = append(all, cl)
			continue
		}
		if resp.Opcode != q.Opcode {
			continue
		}
		if resp.Opcode == OpAnnounce {
			return []*call{cl}
		}
		if !resp.HasData {
			all = append(all, cl)
			continue
		}
		d, r := resp.Data, q.Data
		if d.Nonce != r.Nonce || d.Protocol != r.Protocol || d.InternalPort != r.InternalPort {
			continue
		}
		if resp.Opcode == OpPeer && (d.RemotePort != r.RemotePort || d.RemoteAddr != r.RemoteAddr.Unmap().WithZone("")) {
			continue
		}
		// Requests for one mapping share its nonce, so a late answer to a
		// retransmission of the previous request (e.g. the creation) can
		// arrive while the next one (e.g. the deletion) waits. A successful
		// deletion has lifetime 0 and a successful creation or renewal
		// more: a mismatch is such a stale answer. Seen with miniupnpd
		// 2.3.1 when it answers slower than the first timeout.
		if resp.Result == Success && (resp.Lifetime == 0) != (q.Lifetime == 0) {
			continue
		}
		return []*call{cl}
	}
	return all
}

// remember records an answered MAP/PEER response, so that a late copy
// (the answer to a retransmission) is not taken for an unsolicited update.
// c.mu is held.
func (c *Client) remember(resp *Response) {
	c.recent[c.nrecent%len(c.recent)] = recentReply{resp.Data.Nonce, resp.Result, resp.external()}
	c.nrecent++
}

// isDuplicate reports whether resp repeats a remembered answer. c.mu is held.
func (c *Client) isDuplicate(resp *Response) bool {
	want := recentReply{resp.Data.Nonce, resp.Result, resp.external()}
	for i := 0; i < min(c.nrecent, len(c.recent)); i++ {
		if c.recent[i] == want {
			return true
		}
	}
	return false
}

// emit queues ev for the handler; a full queue drops it.
func (c *Client) emit(ev Event) {
	if c.events == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	select {
	case c.events <- ev:
		c.stats.Events++
	default:
		c.stats.EventsDropped++
	}
}

// dispatch calls the event handler, in order, until Close.
func (c *Client) dispatch() {
	defer c.wg.Done()
	for {
		select {
		case ev := <-c.events:
			c.cfg.onEvent(ev)
		case <-c.done:
			return
		}
	}
}
