//go:build linux

package testbed

import "net/netip"

// The fixed addressing plan of every testbed. Each testbed lives in its own
// namespaces, so several can use the same addresses at once.
var (
	gatewayLAN  = netip.MustParseAddr("10.77.0.1")
	host        = netip.MustParseAddr("10.77.0.2")
	wan         = netip.MustParseAddr("11.77.0.1") // miniupnpd refuses private or reserved WAN addresses
	internet    = netip.MustParseAddr("11.77.0.2")
	gatewayLAN6 = netip.MustParseAddr("fd77::1")
	host6       = netip.MustParseAddr("fd77::2")
	wan6        = netip.MustParseAddr("2001:db8:77::1")
	internet6   = netip.MustParseAddr("2001:db8:77::2")
)

const (
	lanPrefixLen = 24
	wanPrefixLen = 24
	v6PrefixLen  = 64

	// Interface names inside the namespaces; each namespace is private, so
	// they need not be unique across testbeds.
	gwLANIf         = "lan0"
	gwWANIf         = "wan0"
	hostIf          = "eth0"
	inetIf          = "eth0"
	defaultHTTPPort = 5000
)
