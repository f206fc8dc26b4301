package pcp

import (
	"net/netip"
	"strconv"
	"time"
)

// EventKind says what an [Event] reports.
type EventKind int

// Event kinds.
const (
	// EventAnnounce is an ANNOUNCE response the client did not ask for
	// (RFC 6887 §14.1.3), multicast by a server that restarted or changed
	// its state, or sent to this client.
	EventAnnounce EventKind = iota + 1
	// EventMapping is a MAP or PEER response the client did not ask for
	// (§14.2): the server changed a mapping, e.g. its external address.
	// Response.Data.Nonce tells which mapping.
	EventMapping
	// EventReboot means a response's epoch failed validation (§8.5): the
	// server restarted or lost its state, and mappings it held are gone.
	// Renew (recreate) them all. It comes before the event of the message
	// that revealed it, if any.
	EventReboot
)

// String returns "announce", "mapping" or "reboot".
func (k EventKind) String() string {
	switch k {
	case EventAnnounce:
		return "announce"
	case EventMapping:
		return "mapping"
	case EventReboot:
		return "reboot"
	}
	return "EventKind(" + strconv.Itoa(int(k)) + ")"
}

// Event is delivered to the handler of [WithEventHandler].
type Event struct {
	Kind EventKind
	// Server is the source of the message. For multicast announcements it
	// may be an address other than the configured server's (e.g. its IPv6
	// link-local address), or another PCP server on the link.
	Server netip.AddrPort
	// FromServer reports whether Server's address is the client's server.
	//
	// A message multicast from an IPv6 link-local address on the link
	// toward the server has FromServer false, since PCP cannot say whether
	// it is the server's (miniupnpd 2.3.1 announces from its link-local
	// address, other routers on the link may too); the client then asks
	// its server with an ANNOUNCE at once, and if the server restarted, an
	// [EventReboot] with FromServer true and Server the client's server
	// follows. Act on reboots with FromServer true.
	FromServer bool
	// Epoch is the server's epoch time in the message.
	Epoch uint32
	// Response is the decoded message.
	Response *Response
	// Received is when it arrived (client clock).
	Received time.Time
}
