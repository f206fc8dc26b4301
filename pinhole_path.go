package portmap

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/portmap-dev/portmap/internal/netinfo"
)

// ipv6Path is how pinhole requests reach the gateway: its IPv6 address,
// and this host's IPv6 address toward it.
type ipv6Path struct {
	gateway netip.Addr
	local   netip.Addr
	// ownAddrs reports whether an address belongs to this host (nil: only
	// local does).
	ownAddrs func(netip.Addr) bool
}

// sourceFor is the address requests about a pinhole for internal are sent
// from: internal itself when it is this host's (gateways accept pinhole
// requests only from the pinhole's own address), else this host's address.
func (p ipv6Path) sourceFor(internal netip.Addr) netip.Addr {
	if !internal.IsValid() || internal == p.local {
		return p.local
	}
	if p.ownAddrs != nil && p.ownAddrs(internal) {
		return internal
	}
	return p.local
}

// ipv6Path finds the gateway's IPv6 address (known, when valid and IPv6:
// the one an existing pinhole was made through) and this host's address
// toward it, as AddPinhole describes.
func (c *Client) ipv6Path(known netip.Addr) (ipv6Path, error) {
	path := ipv6Path{ownAddrs: isOwnAddr}
	switch {
	case isIPv6(known):
		path.gateway = known
	case isIPv6(c.gateway):
		path.gateway = c.gateway
	case c.opts.GatewayPort != 0 || c.gateway.IsLoopback():
		// A test gateway (portmaptest, portmap simulate) is reached only
		// at the address it was given: never look for a real router.
		return ipv6Path{}, fmt.Errorf("portmap: %w: the test gateway %s is IPv4 only: start it on [::1] for pinholes", ErrNoIPv6, c.gateway)
	default:
		gws, err := netinfo.DefaultGateways()
		if err != nil && !errors.Is(err, netinfo.ErrNoGateway) {
			return ipv6Path{}, fmt.Errorf("portmap: %w: %w", ErrNoIPv6, err)
		}
		g, ok := pickGateway6(gws, c.gateway, c.opts.Interface)
		if !ok {
			return ipv6Path{}, fmt.Errorf("portmap: %w: this host has no IPv6 default route", ErrNoIPv6)
		}
		path.gateway = g.Addr
		if path.gateway.IsLinkLocalUnicast() && path.gateway.Zone() == "" {
			path.gateway = path.gateway.WithZone(g.Interface)
		}
	}
	local, err := c.local6(path.gateway)
	if err != nil {
		return ipv6Path{}, err
	}
	path.local = local
	c.opts.logger().Debug("pinhole: IPv6 path", "gateway", path.gateway, "local", path.local)
	return path, nil
}

// local6 is this host's IPv6 address toward gw6, as AddPinhole describes.
func (c *Client) local6(gw6 netip.Addr) (netip.Addr, error) {
	if a := c.opts.LocalAddr; isIPv6(a) && !a.IsLinkLocalUnicast() {
		return a.WithZone(""), nil
	}
	if isIPv6(c.local) && !c.local.IsLinkLocalUnicast() && gw6 == c.gateway {
		return c.local.WithZone(""), nil
	}
	if !gw6.IsLinkLocalUnicast() {
		a, err := netinfo.LocalAddr(gw6)
		if err != nil {
			return netip.Addr{}, fmt.Errorf("portmap: %w: %w", ErrNoIPv6, err)
		}
		if isIPv6(a) && !a.IsLinkLocalUnicast() {
			return a.WithZone(""), nil
		}
	}
	// A link-local router: the kernel would answer with a link-local
	// source, which the internet cannot reach. Take a global address of
	// the router's interface.
	var addrs []netip.Addr
	if ifi, err := net.InterfaceByName(gw6.Zone()); err == nil {
		as, _ := ifi.Addrs()
		for _, a := range as {
			if n, ok := a.(*net.IPNet); ok {
				if ip, ok := netip.AddrFromSlice(n.IP); ok {
					addrs = append(addrs, ip)
				}
			}
		}
	}
	if a, ok := pickLocal6(addrs); ok {
		return a, nil
	}
	return netip.Addr{}, fmt.Errorf("portmap: %w: no global IPv6 address on the interface toward %s", ErrNoIPv6, gw6)
}

func isIPv6(a netip.Addr) bool { return a.Is6() && !a.Is4In6() }

// pickGateway6 chooses the IPv6 default router: the one on iface if
// given (none if there is none there), else one on the interface of the
// IPv4 gateway gw4, else the first (gws is ordered by preference).
func pickGateway6(gws []netinfo.Gateway, gw4 netip.Addr, iface string) (netinfo.Gateway, bool) {
	strict := iface != ""
	if !strict {
		for _, g := range gws {
			if g.Addr == gw4 {
				iface = g.Interface
				break
			}
		}
	}
	first := -1
	for i, g := range gws {
		if !isIPv6(g.Addr) {
			continue
		}
		if iface == "" || g.Interface == iface {
			return g, true
		}
		if first < 0 {
			first = i
		}
	}
	if first >= 0 && !strict {
		return gws[first], true
	}
	return netinfo.Gateway{}, false
}

// pickLocal6 chooses the address a pinhole opens to among an interface's
// addresses: global unicast first, then ULA; never link-local, loopback
// or IPv4.
func pickLocal6(addrs []netip.Addr) (netip.Addr, bool) {
	var ula netip.Addr
	for _, a := range addrs {
		a = a.WithZone("")
		if !isIPv6(a) || !a.IsGlobalUnicast() {
			continue
		}
		if !a.IsPrivate() {
			return a, true
		}
		if !ula.IsValid() {
			ula = a
		}
	}
	return ula, ula.IsValid()
}

// isOwnAddr reports whether a is an address of one of this host's
// interfaces. It reads the interface list; it sends nothing.
func isOwnAddr(a netip.Addr) bool {
	if a.IsLoopback() {
		return true
	}
	as, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, x := range as {
		if n, ok := x.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok && ip.Unmap() == a.WithZone("") {
				return true
			}
		}
	}
	return false
}
