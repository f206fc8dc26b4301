package netinfo

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
)

// ErrNoGateway is returned when the routing table has no default route
// through a gateway (for the interface asked).
var ErrNoGateway = errors.New("netinfo: no default gateway")

// Gateway is a default route's next hop.
type Gateway struct {
	// Addr is the gateway's address. An IPv6 link-local address has the
	// interface as its zone.
	Addr netip.Addr
	// Interface is the name of the interface the route goes out of.
	Interface string
	// Metric is the route's metric (lower is preferred); 0 where the
	// system has none.
	Metric uint32
}

// rtEntry is one entry of the system routing table, as far as this package
// cares.
type rtEntry struct {
	dst    netip.Prefix
	gw     netip.Addr
	iface  string
	metric uint32
}

// DefaultGateways returns the next hops of all default routes: IPv4 ones
// first, each family ordered by metric, then by the routing table's order.
func DefaultGateways() ([]Gateway, error) {
	routes, err := systemRoutes()
	if err != nil {
		return nil, err
	}
	gws := defaultGateways(routes)
	if len(gws) == 0 {
		return nil, ErrNoGateway
	}
	return gws, nil
}

// DefaultGateway returns the preferred IPv4 default gateway, the router
// NAT-PMP, PCP and UPnP IGD normally talk to.
func DefaultGateway() (netip.Addr, error) {
	gws, err := DefaultGateways()
	if err != nil {
		return netip.Addr{}, err
	}
	if gws[0].Addr.Is4() {
		return gws[0].Addr, nil
	}
	return netip.Addr{}, fmt.Errorf("%w for IPv4 (only IPv6 default routes)", ErrNoGateway)
}

// InterfaceGateway returns the preferred default gateway through the named
// interface, IPv4 if there is one.
func InterfaceGateway(name string) (Gateway, error) {
	gws, err := DefaultGateways()
	if err != nil {
		return Gateway{}, err
	}
	for _, g := range gws {
		if g.Interface == name {
			return g, nil
		}
	}
	return Gateway{}, fmt.Errorf("%w through interface %q", ErrNoGateway, name)
}

// LocalAddr returns the address of this host that packets to gateway come
// from. It asks the kernel through a connected UDP socket, which sends
// nothing.
func LocalAddr(gateway netip.Addr) (netip.Addr, error) {
	if !gateway.IsValid() {
		return netip.Addr{}, fmt.Errorf("netinfo: invalid gateway address")
	}
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(gateway, 5351)))
	if err != nil {
		return netip.Addr{}, fmt.Errorf("netinfo: no route to %v: %w", gateway, err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap(), nil
}

// defaultGateways picks the default routes with a gateway out of routes
// and orders them.
func defaultGateways(routes []rtEntry) []Gateway {
	var gws []Gateway
	for _, r := range routes {
		if !r.dst.IsValid() || r.dst.Bits() != 0 || !r.gw.IsValid() || r.gw.IsUnspecified() {
			continue
		}
		gws = append(gws, Gateway{Addr: r.gw, Interface: r.iface, Metric: r.metric})
	}
	slices.SortStableFunc(gws, func(a, b Gateway) int {
		if a.Addr.Is4() != b.Addr.Is4() {
			if a.Addr.Is4() {
				return -1
			}
			return 1
		}
		return cmp.Compare(a.Metric, b.Metric)
	})
	return gws
}
