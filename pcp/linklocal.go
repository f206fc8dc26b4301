package pcp

import (
	"context"
	"net/netip"
	"strconv"
	"time"
)

// serverCheckTimeout bounds the ANNOUNCE a client sends to its server after
// hearing a multicast message from a link-local neighbour (see
// [Client.checkServer]).
const serverCheckTimeout = 30 * time.Second

// onServerLink reports whether src, the sender of a multicast message that
// is not the client's server, is an IPv6 link-local address on the
// interface toward the server: possibly the server itself.
//
// miniupnpd 2.3.1 multicasts its ANNOUNCE to [ff02::1]:5350 from the LAN
// interface's link-local address (fe80::...), not from the global or ULA
// address clients send their requests to, and PCP gives no way to tell
// that the two belong to one router. An IPv6-only client would otherwise
// never take the announcement of a restart as its server's.
func (c *Client) onServerLink(src netip.Addr) bool {
	if !src.Is6() || !src.IsLinkLocalUnicast() {
		return false
	}
	zone := src.Zone()
	if zone == "" {
		return true // the system did not say which link: let the check decide
	}
	ifi, err := c.multicastInterface()
	if err != nil || ifi == nil {
		return true
	}
	return zone == ifi.Name || zone == strconv.Itoa(ifi.Index)
}

// checkServer sends an ANNOUNCE to the client's server, in the background,
// because a link-local neighbour on the server's link multicast a message:
// if that was the server announcing a restart, the answer's epoch fails
// validation (RFC 6887 §8.5) and an [EventReboot] from the server itself
// (FromServer true) is delivered. The sender is not taken for the server
// on its word: a second PCP server on the link (another router) would
// otherwise make its epoch look like the server's, and every message of
// each like a reboot of the other. One check runs at a time; messages
// arriving meanwhile are covered by it.
func (c *Client) checkServer(src netip.AddrPort) {
	c.mu.Lock()
	if c.closed || c.checking {
		c.mu.Unlock()
		return
	}
	c.checking = true
	c.stats.ServerChecks++
	c.wg.Add(1)
	c.mu.Unlock()
	c.logDebug("pcp: checking the server after a link-local announcement", "from", src, "server", c.server)
	go func() {
		defer c.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), serverCheckTimeout)
		defer cancel()
		_, err := c.Announce(ctx) // ends at once on Close
		c.mu.Lock()
		c.checking = false
		c.mu.Unlock()
		if err != nil {
			c.logDebug("pcp: server check failed", "server", c.server, "err", err)
		}
	}()
}
