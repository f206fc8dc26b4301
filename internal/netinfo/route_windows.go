//go:build windows

package netinfo

import (
	"fmt"
	"net"
	"net/netip"
	"unsafe"

	"golang.org/x/sys/windows"
)

// systemRoutes reads the routing table with GetIpForwardTable2.
func systemRoutes() ([]rtEntry, error) {
	var table *windows.MibIpForwardTable2
	if err := windows.GetIpForwardTable2(windows.AF_UNSPEC, &table); err != nil {
		return nil, fmt.Errorf("netinfo: GetIpForwardTable2: %w", err)
	}
	defer windows.FreeMibTable(unsafe.Pointer(table))
	var routes []rtEntry
	for _, row := range table.Rows() {
		dst, ok := sockaddrInet(&row.DestinationPrefix.Prefix)
		if !ok {
			continue
		}
		pfx, err := dst.Prefix(int(row.DestinationPrefix.PrefixLength))
		if err != nil {
			continue
		}
		gw, ok := sockaddrInet(&row.NextHop)
		if !ok {
			continue
		}
		name := ""
		if ifi, err := net.InterfaceByIndex(int(row.InterfaceIndex)); err == nil {
			name = ifi.Name
		}
		if gw.Is6() && gw.IsLinkLocalUnicast() && name != "" {
			gw = gw.WithZone(name)
		}
		routes = append(routes, rtEntry{dst: pfx, gw: gw, iface: name, metric: row.Metric})
	}
	return routes, nil
}

// sockaddrInet converts a SOCKADDR_INET.
func sockaddrInet(sa *windows.RawSockaddrInet) (netip.Addr, bool) {
	switch sa.Family {
	case windows.AF_INET:
		return netip.AddrFrom4((*windows.RawSockaddrInet4)(unsafe.Pointer(sa)).Addr), true
	case windows.AF_INET6:
		return netip.AddrFrom16((*windows.RawSockaddrInet6)(unsafe.Pointer(sa)).Addr), true
	}
	return netip.Addr{}, false
}
