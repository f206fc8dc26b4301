package portmap

import "net/netip"

// AddressKind says what kind of external address a gateway reported, which
// tells whether a mapping on it can be reached from the internet.
type AddressKind int

// Address kinds.
const (
	// AddressPublic is a global unicast address: mappings are reachable.
	AddressPublic AddressKind = iota
	// AddressNone: the gateway reported no usable address ("", 0.0.0.0),
	// typically because its WAN link is down.
	AddressNone
	// AddressPrivate is an RFC 1918 (or other non-global) address: the
	// gateway is itself behind another NAT (double NAT), so mappings on it
	// are not reachable from the internet without one more mapping upstream.
	AddressPrivate
	// AddressShared is in 100.64.0.0/10 (RFC 6598): carrier-grade NAT.
	AddressShared
)

var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// ClassifyAddress tells the kind of an external address.
func ClassifyAddress(a netip.Addr) AddressKind {
	a = a.Unmap()
	switch {
	case !a.IsValid() || a.IsUnspecified():
		return AddressNone
	case a.Is4() && cgnat.Contains(a):
		return AddressShared
	case a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast() || !a.IsGlobalUnicast():
		return AddressPrivate
	}
	return AddressPublic
}

// Warning returns a sentence for the user when mappings on an address of
// this kind will not be reachable from the internet, or "".
func (k AddressKind) Warning() string {
	switch k {
	case AddressNone:
		return "the gateway reports no external address: its internet link may be down"
	case AddressPrivate:
		return "the gateway's external address is private: there is another NAT in front of it (double NAT), so mappings are not reachable from the internet"
	case AddressShared:
		return "the gateway's external address is in 100.64.0.0/10: your provider uses carrier-grade NAT, so mappings are not reachable from the internet"
	}
	return ""
}

// String names the kind.
func (k AddressKind) String() string {
	switch k {
	case AddressPublic:
		return "public"
	case AddressNone:
		return "none"
	case AddressPrivate:
		return "private"
	case AddressShared:
		return "shared"
	}
	return "unknown"
}
