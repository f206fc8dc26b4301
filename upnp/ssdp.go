package upnp

import "net/netip"

// SSDP constants (UPnP Device Architecture 1.1, section 1).
const (
	// SSDPPort is the well-known SSDP port.
	SSDPPort = 1900
	// maxSSDPDatagram bounds every SSDP datagram read. Real replies are
	// 300-600 bytes (miniupnpd 2.3.1 sends 437); anything larger than this
	// is dropped rather than parsed truncated.
	maxSSDPDatagram = 2048
	// maxSSDPHeaders bounds the number of header lines parsed per message.
	maxSSDPHeaders = 32
)

// SSDPMulticast is the IPv4 SSDP multicast group and port, 239.255.255.250:1900.
var SSDPMulticast = netip.AddrPortFrom(netip.AddrFrom4([4]byte{239, 255, 255, 250}), SSDPPort)

// Search targets (ST) sent by Discover. Devices differ in what they answer:
// most answer the IGD device types, some only their WAN connection service,
// and some (older Zyxel and Thomson/Technicolor firmwares) only
// upnp:rootdevice, so all of them are asked at once.
const (
	STRootDevice       = "upnp:rootdevice"
	STIGDv1            = "urn:schemas-upnp-org:device:InternetGatewayDevice:1"
	STIGDv2            = "urn:schemas-upnp-org:device:InternetGatewayDevice:2"
	STWANIPConnection  = "urn:schemas-upnp-org:service:WANIPConnection:1"
	STWANPPPConnection = "urn:schemas-upnp-org:service:WANPPPConnection:1"
)

// DefaultSearchTargets are the STs Discover sends when
// DiscoverOptions.SearchTargets is empty: the first at once, the others
// 100 ms later. IGD:1 goes first because every IGD answers it: UDA 1.1
// requires devices to answer searches for older versions of their type,
// and IGD:1-only devices do not know IGD:2.
var DefaultSearchTargets = []string{STIGDv1, STIGDv2, STWANIPConnection, STWANPPPConnection, STRootDevice}

// mSearch builds one M-SEARCH request. host is what goes into the HOST
// header: the multicast group for multicast searches and the target
// address for unicast ones (UDA 1.1 section 1.3.2). MX is 1, the smallest
// value UDA 1.1 allows: devices wait a random time up to MX seconds before
// answering a multicast search (miniupnpd answers within ~50-80 ms).
// st comes from the caller's options, so CR and LF are removed to keep it
// from injecting header lines.
func mSearch(host netip.AddrPort, st string) []byte {
	b := make([]byte, 0, 160)
	b = append(b, "M-SEARCH * HTTP/1.1\r\nHOST: "...)
	b = append(b, host.String()...)
	b = append(b, "\r\nMAN: \"ssdp:discover\"\r\nMX: 1\r\nST: "...)
	for i := 0; i < len(st); i++ {
		if c := st[i]; c != '\r' && c != '\n' {
			b = append(b, c)
		}
	}
	b = append(b, "\r\nUSER-AGENT: portmap UPnP/1.1\r\n\r\n"...)
	return b
}
