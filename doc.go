// Package portmap opens ports on home routers so that a program behind NAT
// can be reached from the internet. It speaks UPnP IGD (v1 and v2), NAT-PMP
// (RFC 6886) and PCP (RFC 6887) behind one API.
//
// The protocol packages [github.com/portmap-dev/portmap/natpmp],
// [github.com/portmap-dev/portmap/pcp] and [github.com/portmap-dev/portmap/upnp]
// are usable on their own; this package chooses between them.
package portmap
