package portmap

import (
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
)

// Options tell [Discover] where to look and how.
type Options struct {
	// Gateway is the gateway to talk to. The zero value means the default
	// gateway of this host (or of Interface).
	Gateway netip.Addr
	// GatewayPort, when not zero, is the one port of a test gateway (such as
	// "portmap simulate" or portmaptest) that serves NAT-PMP, PCP and SSDP
	// on it instead of the standard 5351 and 1900.
	GatewayPort uint16
	// Interface restricts discovery to this network interface's gateway and
	// address.
	Interface string
	// Protocols are the protocols to try; nil means all of them. With
	// several, the best that answers is used (PCP, then NAT-PMP, then UPnP).
	Protocols []Protocol
	// LocalAddr is this host's address toward the gateway; the zero value
	// finds it.
	LocalAddr netip.Addr
	// UPnPCachePath is a file that remembers the UPnP control URL of each
	// gateway so that the next process skips SSDP. Empty means a cache in
	// memory only.
	UPnPCachePath string
	// Logger receives a debug record for each request and reply; nil means
	// no logging.
	Logger *slog.Logger

	// lanSearchAddr, in tests, replaces the SSDP multicast group of
	// DiscoverAll's LAN search with a loopback responder.
	lanSearchAddr netip.AddrPort
}

// DefaultUPnPCachePath is the control-URL cache the portmap command uses:
// upnp.json under the user's cache directory.
func DefaultUPnPCachePath() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "portmap", "upnp.json")
}

func (o *Options) logger() *slog.Logger {
	if o.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return o.Logger
}

// wants reports whether protocol p is enabled.
func (o *Options) wants(p Protocol) bool {
	if len(o.Protocols) == 0 {
		return true
	}
	for _, q := range o.Protocols {
		if q == p {
			return true
		}
	}
	return false
}
