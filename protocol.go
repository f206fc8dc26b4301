package portmap

import "fmt"

// Protocol names a port-mapping protocol.
type Protocol string

// The protocols portmap speaks, best first: the order in which [Discover]
// prefers them when several answer.
const (
	PCP    Protocol = "pcp"    // Port Control Protocol, RFC 6887
	NATPMP Protocol = "natpmp" // NAT Port Mapping Protocol, RFC 6886
	UPnP   Protocol = "upnp"   // UPnP Internet Gateway Device v1/v2
)

// Protocols lists every protocol, best first.
var Protocols = []Protocol{PCP, NATPMP, UPnP}

// ParseProtocol parses "pcp", "natpmp" or "upnp".
func ParseProtocol(s string) (Protocol, error) {
	for _, p := range Protocols {
		if string(p) == s {
			return p, nil
		}
	}
	return "", fmt.Errorf("portmap: unknown protocol %q (want upnp, natpmp or pcp)", s)
}

// rank orders protocols by preference; lower is better.
func (p Protocol) rank() int {
	for i, q := range Protocols {
		if p == q {
			return i
		}
	}
	return len(Protocols)
}

// Transport is the transport protocol of a mapping.
type Transport string

// Transports.
const (
	TCP Transport = "tcp"
	UDP Transport = "udp"
)

// ParseTransport parses "tcp" or "udp" (any case).
func ParseTransport(s string) (Transport, error) {
	switch s {
	case "tcp", "TCP", "Tcp":
		return TCP, nil
	case "udp", "UDP", "Udp":
		return UDP, nil
	}
	return "", fmt.Errorf("portmap: unknown transport %q (want tcp or udp)", s)
}
