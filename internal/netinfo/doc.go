// Package netinfo finds this host's default gateways and its own address
// toward a gateway, on Linux (/proc/net/route and /proc/net/ipv6_route),
// macOS and the BSDs (the routing socket) and Windows
// (GetIpForwardTable2).
//
// Nothing in this package sends a packet: [LocalAddr] uses a connected UDP
// socket only to ask the kernel which source address it would use.
package netinfo
