package upnp

import (
	"net"
	"net/netip"
)

// onLink reports whether a lies inside the network of one of this host's
// interface addresses: a device there is on the local network even with a
// public address (a university or business LAN with public IPv4, any IPv6
// LAN with global addresses).
func onLink(a netip.Addr) bool {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	return inPrefixes(a, addrs)
}

// inPrefixes reports whether a lies inside one of the *net.IPNet in addrs.
func inPrefixes(a netip.Addr, addrs []net.Addr) bool {
	a = a.Unmap().WithZone("")
	for _, na := range addrs {
		n, ok := na.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(n.IP)
		if !ok {
			continue
		}
		ones, bits := n.Mask.Size()
		if bits == 0 {
			continue // non-canonical mask
		}
		ip = ip.Unmap()
		if ip.Is4() && bits == 128 {
			ones -= 96
		}
		if p, err := ip.Prefix(ones); err == nil && p.Contains(a) {
			return true
		}
	}
	return false
}
