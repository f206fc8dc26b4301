package pcp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"
)

// Announcement is the answer to an ANNOUNCE request.
type Announcement struct {
	Server netip.AddrPort
	// Epoch is the server's epoch time.
	Epoch uint32
	// Rebooted reports that the epoch failed validation against the
	// previous response from this server (RFC 6887 §8.5): the server lost
	// its state and mappings must be recreated. An [EventReboot] is also
	// delivered.
	Rebooted bool
	// Received is when the response arrived (client clock).
	Received time.Time
}

// Announce sends an ANNOUNCE request (RFC 6887 §14.1): a cheap probe that
// the server speaks PCP, and a check of its epoch. A NAT-PMP-only server
// gives a [*VersionError] with ServerVersion 0.
func (c *Client) Announce(ctx context.Context) (*Announcement, error) {
	rep, err := c.do(ctx, &Request{Opcode: OpAnnounce, ClientAddr: c.clientAddr})
	if err != nil {
		return nil, err
	}
	return &Announcement{Server: c.server, Epoch: rep.resp.Epoch, Rebooted: rep.rebooted, Received: rep.at}, nil
}

// ListenAnnouncements receives unsolicited responses multicast by PCP
// servers (RFC 6887 §14.1.1, §14.2) on the addresses of
// [WithAnnounceAddrs] (default 224.0.0.1:5350 and [ff02::1]:5350) until ctx
// ends or the client is closed, and delivers them to the handler of
// [WithEventHandler] as [EventAnnounce] and [EventMapping] events, preceded
// by an [EventReboot] when the sender's epoch fails validation. Epochs are
// tracked per sender address, together with the client's own responses.
// Messages that are not valid PCP responses (NAT-PMP announcements share
// the port) are ignored. A message from an IPv6 link-local address on the
// link toward the server makes the client ask its server with an ANNOUNCE
// whether it restarted (see [Event].FromServer).
//
// It returns nil when ctx ends, [ErrClosed] when the client is closed, or
// an error if no address could be listened on (those that fail while
// others work are skipped).
func (c *Client) ListenAnnouncements(ctx context.Context) error {
	var conns []*net.UDPConn
	var errs []error
	for _, a := range c.cfg.announceAddrs {
		conn, err := c.listenAnnounce(a)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", a, err))
			continue
		}
		conns = append(conns, conn)
	}
	if len(conns) == 0 {
		return fmt.Errorf("pcp: cannot listen for announcements: %w", errors.Join(errs...))
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		for _, conn := range conns {
			conn.Close()
		}
		return ErrClosed
	}
	c.wg.Add(1)
	c.mu.Unlock()
	defer c.wg.Done()

	var wg sync.WaitGroup
	for _, conn := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.readAnnouncements(conn)
		}()
	}
	var err error
	select {
	case <-ctx.Done():
	case <-c.done:
		err = ErrClosed
	}
	for _, conn := range conns {
		conn.Close()
	}
	wg.Wait()
	return err
}

// listenAnnounce opens a socket for one announcement address.
func (c *Client) listenAnnounce(a netip.AddrPort) (*net.UDPConn, error) {
	network := "udp4"
	if a.Addr().Is6() && !a.Addr().Is4In6() {
		network = "udp6"
	}
	ua := net.UDPAddrFromAddrPort(netip.AddrPortFrom(a.Addr().Unmap(), a.Port()))
	if !a.Addr().IsMulticast() {
		return net.ListenUDP(network, ua)
	}
	ifi, err := c.multicastInterface()
	if err != nil {
		return nil, err
	}
	// Go binds a multicast listener to the wildcard address with
	// SO_REUSEADDR, so NAT-PMP listeners on the same port can coexist.
	return net.ListenMulticastUDP(network, ifi, ua)
}

// multicastInterface returns the configured interface, or the one that
// holds the client's address (nil, the system's choice, if none does).
func (c *Client) multicastInterface() (*net.Interface, error) {
	if c.cfg.mcastIface != "" {
		ifi, err := net.InterfaceByName(c.cfg.mcastIface)
		if err != nil {
			return nil, fmt.Errorf("interface %q: %w", c.cfg.mcastIface, err)
		}
		return ifi, nil
	}
	local := c.LocalAddr().Addr().Unmap().WithZone("")
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, nil
	}
	for i := range ifs {
		addrs, err := ifs[i].Addrs()
		if err != nil {
			continue
		}
		for _, ad := range addrs {
			if p, err := netip.ParsePrefix(ad.String()); err == nil && p.Addr().Unmap().WithZone("") == local {
				return &ifs[i], nil
			}
		}
	}
	return nil, nil
}

func (c *Client) readAnnouncements(conn *net.UDPConn) {
	buf := make([]byte, MaxMessageLen+4)
	for {
		n, src, err := conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			select {
			case <-c.done:
				return
			default:
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		c.receiveAnnouncement(buf[:n], src, c.cfg.clock.Now())
	}
}

// receiveAnnouncement handles a datagram that arrived from src on an
// announcement socket. src keeps its zone (the interface a link-local
// sender was heard on).
func (c *Client) receiveAnnouncement(b []byte, src netip.AddrPort, now time.Time) {
	src = netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
	resp, err := ParseResponse(b)
	if err != nil || resp.Version != Version {
		c.logDebug("pcp: ignored multicast packet", "from", src, "len", len(b))
		return
	}
	c.logDebug("pcp: unsolicited response", "server", src, "opcode", resp.Opcode, "result", resp.Result, "epoch", resp.Epoch)
	c.handle(resp, src, now, true)
}
