//go:build darwin || dragonfly || freebsd || netbsd || openbsd

package netinfo

import (
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"syscall"

	"golang.org/x/net/route"
)

// rtfIfscope marks macOS routes scoped to one interface (the default routes
// of the interfaces other than the primary one).
const rtfIfscope = 0x1000000

// systemRoutes dumps the routing table through the routing socket.
func systemRoutes() ([]rtEntry, error) {
	rib, err := route.FetchRIB(syscall.AF_UNSPEC, route.RIBTypeRoute, 0)
	if err != nil {
		return nil, fmt.Errorf("netinfo: routing table: %w", err)
	}
	msgs, err := route.ParseRIB(route.RIBTypeRoute, rib)
	if err != nil {
		return nil, fmt.Errorf("netinfo: routing table: %w", err)
	}
	var routes []rtEntry
	for _, m := range msgs {
		rm, ok := m.(*route.RouteMessage)
		if !ok || rm.Flags&(syscall.RTF_UP|syscall.RTF_GATEWAY) != syscall.RTF_UP|syscall.RTF_GATEWAY {
			continue
		}
		if len(rm.Addrs) <= syscall.RTAX_GATEWAY {
			continue
		}
		dst, ok := ribAddr(rm.Addrs[syscall.RTAX_DST])
		if !ok || !dst.IsUnspecified() {
			continue // only default routes are of interest
		}
		if len(rm.Addrs) > syscall.RTAX_NETMASK {
			if mask, ok := ribAddr(rm.Addrs[syscall.RTAX_NETMASK]); ok && !mask.IsUnspecified() {
				continue
			}
		}
		gw, ok := ribAddr(rm.Addrs[syscall.RTAX_GATEWAY])
		if !ok {
			continue
		}
		name := ""
		if ifi, err := net.InterfaceByIndex(rm.Index); err == nil {
			name = ifi.Name
		}
		if gw.Is6() && gw.IsLinkLocalUnicast() && name != "" {
			gw = gw.WithZone(name)
		}
		var metric uint32
		if runtime.GOOS == "darwin" && rm.Flags&rtfIfscope != 0 {
			metric = 1 // after the primary interface's default route
		}
		routes = append(routes, rtEntry{dst: netip.PrefixFrom(dst, 0), gw: gw, iface: name, metric: metric})
	}
	return routes, nil
}

// ribAddr converts a routing message address.
func ribAddr(a route.Addr) (netip.Addr, bool) {
	switch a := a.(type) {
	case *route.Inet4Addr:
		return netip.AddrFrom4(a.IP), true
	case *route.Inet6Addr:
		ip := netip.AddrFrom16(a.IP)
		// KAME-derived stacks embed the zone index in bytes 2-3 of a
		// link-local address; clear it.
		if ip.IsLinkLocalUnicast() {
			b := ip.As16()
			b[2], b[3] = 0, 0
			ip = netip.AddrFrom16(b)
		}
		return ip, true
	}
	return netip.Addr{}, false
}
