package portmaptest

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"time"
)

// Protocol names one of the three port-mapping protocols the gateway speaks.
type Protocol string

// The protocols. UPnP covers SSDP, the device description, SOAP control and
// GENA events.
const (
	UPnP   Protocol = "upnp"
	NATPMP Protocol = "natpmp"
	PCP    Protocol = "pcp"
)

// DefaultExternalIP is the gateway's external IPv4 address unless
// Config.ExternalIP says otherwise: a public-looking address (the one of the
// project's network-namespace testbed) that exists only as a value inside
// the process.
var DefaultExternalIP = netip.AddrFrom4([4]byte{11, 77, 0, 1})

// Defaults applied to a zero Config.
const (
	// DefaultUptime is how long the gateway claims to have been up when it
	// starts: its epoch (NAT-PMP, PCP) starts there, so that a Reboot right
	// after the first request is already visible to clients as an epoch
	// that went backwards.
	DefaultUptime = time.Hour
	// DefaultPCPMinLifetime and DefaultPCPMaxLifetime bound the lifetimes
	// granted to PCP mappings, as miniupnpd 2.3.1 does.
	DefaultPCPMinLifetime = 120 * time.Second
	DefaultPCPMaxLifetime = 86400 * time.Second
	// DefaultMaxMappings bounds the mapping table (and, separately, the
	// pinhole table).
	DefaultMaxMappings = 1024
	// MaxAnnounceCount bounds Config.AnnounceCount.
	MaxAnnounceCount = 10
	// maxLeaseV2 is the longest lease WANIPConnection:2 grants (one week).
	maxLeaseV2 = 604800 * time.Second
)

// Config describes a gateway. The zero value is a loopback gateway on a
// free port speaking UPnP IGD v2 (with WANIPv6FirewallControl), NAT-PMP and
// PCP, with external address DefaultExternalIP.
type Config struct {
	// Listen is the address of the UDP socket and of the HTTP listener
	// (same port number). The zero value means 127.0.0.1:0, a free port.
	Listen netip.AddrPort
	// AllowNonLoopback permits a Listen address that is not a loopback
	// address. Without it Start refuses one: the fake gateway has no
	// access control and is meant for tests and local trying.
	AllowNonLoopback bool

	// Protocols are the protocols served; nil means all three. A gateway
	// without PCP but with NAT-PMP answers PCP requests the way a
	// NAT-PMP-only router does (the 8-byte "unsupported version" reply,
	// RFC 6887 §9), so that clients' fallback can be tested. Requests of a
	// disabled protocol are otherwise ignored (a real router would send
	// ICMP port unreachable, which one shared socket cannot).
	Protocols []Protocol
	// IGDVersion is 1 or 2 (0 means 2). Version 1 offers
	// WANIPConnection:1 only: no AddAnyPortMapping, DeletePortMappingRange,
	// GetListOfPortMappings (401 Invalid Action), a lease of 0 is
	// permanent, and no WANIPv6FirewallControl.
	IGDVersion int
	// NoFirewallControl leaves the WANIPv6FirewallControl service out of
	// the description.
	NoFirewallControl bool

	// ExternalIP is the gateway's external IPv4 address; the zero value
	// means DefaultExternalIP. Use Gateway.SetExternalIP(netip.Addr{}) for a
	// gateway without one (disconnected).
	ExternalIP netip.Addr
	// SecureMode refuses mappings for another host than the requester, as
	// miniupnpd's secure_mode does: UPnP 606 (718 on IGD v1), PCP
	// THIRD_PARTY refused with NOT_AUTHORIZED, pinholes only for the
	// calling address. Off by default so that tests may map for any
	// address from loopback.
	SecureMode bool
	// PermanentLeasesOnly makes AddPortMapping and AddAnyPortMapping refuse
	// a non-zero lease with 725 OnlyPermanentLeasesSupported, a quirk of
	// several IGD v1 routers (e.g. older Netgear and TP-Link firmwares).
	PermanentLeasesOnly bool
	// UppercaseProtocolOnly makes SOAP actions refuse "tcp"/"udp" with 402
	// Invalid Args, as several Linksys and TP-Link firmwares do.
	UppercaseProtocolOnly bool
	// ArgumentOrder makes SOAP actions refuse (402) arguments that are not
	// in the specification's order, as routers that read arguments by
	// position do (some older Broadcom and Realtek IGDs). miniupnpd reads
	// them by name. Missing arguments are refused either way.
	ArgumentOrder bool
	// SSDPRootDeviceOnly answers only searches for upnp:rootdevice (and
	// ssdp:all), as some older Zyxel and Thomson/Technicolor firmwares do.
	SSDPRootDeviceOnly bool
	// NATPMPTruncatedPorts puts only the low 8 bits of the internal and
	// external ports in NAT-PMP mapping replies, while mapping the real
	// ports: the bug of miniupnpd 1.8.20140523 (miniupnp issues #89 and
	// #196), which clients detect from the echoed internal port.
	NATPMPTruncatedPorts bool
	// MinPort and MaxPort bound the external ports the gateway grants
	// (both zero: 1-65535). A UPnP request for a port outside is refused
	// (606, 718 on IGD v1, like miniupnpd's permission rules); NAT-PMP and
	// PCP get another port.
	MinPort, MaxPort uint16
	// MaxMappings bounds the mapping table and the pinhole table (0:
	// DefaultMaxMappings).
	MaxMappings int
	// PCPMinLifetime and PCPMaxLifetime clamp PCP lifetimes (0: the
	// defaults, 120 s and 86400 s as miniupnpd). NAT-PMP lifetimes are
	// granted as asked, as miniupnpd does.
	PCPMinLifetime, PCPMaxLifetime time.Duration

	// Uptime is how long the gateway claims to have been up at Start: the
	// NAT-PMP/PCP epoch and the UPnP uptime start there. Zero means
	// DefaultUptime; a negative value means 0.
	Uptime time.Duration
	// BootID is the first BOOTID.UPNP.ORG (0 means 1); Reboot adds one.
	BootID int64

	// AnnounceAddrs receive the unsolicited announcements a router
	// multicasts to 224.0.0.1:5350: NAT-PMP external-address announcements
	// and PCP ANNOUNCE responses, both sent to every address (real clients
	// tell them apart by version). Empty means none: the gateway never
	// sends to a multicast group by itself.
	AnnounceAddrs []netip.AddrPort
	// AnnounceCount is how many times each announcement is sent (0 means 1,
	// at most MaxAnnounceCount), 250 ms apart doubling, as RFC 6886 §3.2.1
	// describes.
	AnnounceCount int

	// Clock is the time source of lifetimes, expiry, epoch and uptime
	// (nil: the system clock). Delays and announcement repeats use real
	// time whatever the Clock.
	Clock Clock
	// Logger receives one debug record per request received; nil means no
	// logging.
	Logger *slog.Logger
	// Seed seeds the random choices (drop rate, AddAnyPortMapping's port
	// for "any"), so that a test is repeatable.
	Seed uint64
	// FriendlyName is the device's friendlyName (default "portmaptest
	// gateway").
	FriendlyName string
}

// An Option changes a Config; NewGateway applies them in order.
type Option func(*Config)

// WithConfig replaces the whole configuration (later options still apply).
func WithConfig(c Config) Option { return func(dst *Config) { *dst = c } }

// WithListen sets Config.Listen.
func WithListen(ap netip.AddrPort) Option { return func(c *Config) { c.Listen = ap } }

// WithProtocols sets Config.Protocols: serve only these.
func WithProtocols(ps ...Protocol) Option {
	return func(c *Config) { c.Protocols = slices.Clone(ps) }
}

// WithIGDv1 makes the gateway an IGD v1 device (Config.IGDVersion 1).
func WithIGDv1() Option { return func(c *Config) { c.IGDVersion = 1 } }

// WithExternalIP sets Config.ExternalIP.
func WithExternalIP(a netip.Addr) Option { return func(c *Config) { c.ExternalIP = a } }

// WithSecureMode sets Config.SecureMode.
func WithSecureMode() Option { return func(c *Config) { c.SecureMode = true } }

// WithPermanentLeasesOnly sets Config.PermanentLeasesOnly (UPnP error 725
// on a non-zero lease).
func WithPermanentLeasesOnly() Option { return func(c *Config) { c.PermanentLeasesOnly = true } }

// WithPortRange sets Config.MinPort and Config.MaxPort.
func WithPortRange(lo, hi uint16) Option {
	return func(c *Config) { c.MinPort, c.MaxPort = lo, hi }
}

// WithClock sets Config.Clock.
func WithClock(cl Clock) Option { return func(c *Config) { c.Clock = cl } }

// WithAnnounceAddrs sets Config.AnnounceAddrs.
func WithAnnounceAddrs(addrs ...netip.AddrPort) Option {
	return func(c *Config) { c.AnnounceAddrs = slices.Clone(addrs) }
}

// WithLogger sets Config.Logger.
func WithLogger(l *slog.Logger) Option { return func(c *Config) { c.Logger = l } }

// withDefaults returns c with defaults applied, or an error if c is
// inconsistent.
func (c Config) withDefaults() (Config, error) {
	if !c.Listen.IsValid() {
		c.Listen = netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), 0)
	}
	c.Listen = netip.AddrPortFrom(c.Listen.Addr().Unmap(), c.Listen.Port())
	if !c.Listen.Addr().IsLoopback() && !c.AllowNonLoopback {
		return c, fmt.Errorf("portmaptest: refusing to listen on non-loopback address %v (set AllowNonLoopback)", c.Listen.Addr())
	}
	if c.Protocols == nil {
		c.Protocols = []Protocol{UPnP, NATPMP, PCP}
	}
	for _, p := range c.Protocols {
		if p != UPnP && p != NATPMP && p != PCP {
			return c, fmt.Errorf("portmaptest: unknown protocol %q", p)
		}
	}
	switch c.IGDVersion {
	case 0:
		c.IGDVersion = 2
	case 1, 2:
	default:
		return c, fmt.Errorf("portmaptest: IGDVersion %d: want 1 or 2", c.IGDVersion)
	}
	if !c.ExternalIP.IsValid() {
		c.ExternalIP = DefaultExternalIP
	}
	c.ExternalIP = c.ExternalIP.Unmap()
	if !c.ExternalIP.Is4() {
		return c, fmt.Errorf("portmaptest: external address %v is not IPv4", c.ExternalIP)
	}
	if c.MinPort == 0 && c.MaxPort == 0 {
		c.MinPort, c.MaxPort = 1, 65535
	}
	if c.MinPort == 0 || c.MinPort > c.MaxPort {
		return c, fmt.Errorf("portmaptest: bad port range %d-%d", c.MinPort, c.MaxPort)
	}
	if c.MaxMappings <= 0 {
		c.MaxMappings = DefaultMaxMappings
	}
	if c.PCPMinLifetime <= 0 {
		c.PCPMinLifetime = DefaultPCPMinLifetime
	}
	if c.PCPMaxLifetime <= 0 {
		c.PCPMaxLifetime = DefaultPCPMaxLifetime
	}
	if c.PCPMinLifetime > c.PCPMaxLifetime {
		return c, errors.New("portmaptest: PCPMinLifetime > PCPMaxLifetime")
	}
	switch {
	case c.Uptime == 0:
		c.Uptime = DefaultUptime
	case c.Uptime < 0:
		c.Uptime = 0
	}
	if c.BootID <= 0 {
		c.BootID = 1
	}
	c.AnnounceAddrs = slices.Clone(c.AnnounceAddrs)
	if c.AnnounceCount <= 0 {
		c.AnnounceCount = 1
	}
	c.AnnounceCount = min(c.AnnounceCount, MaxAnnounceCount)
	if c.Clock == nil {
		c.Clock = systemClock{}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.FriendlyName == "" {
		c.FriendlyName = "portmaptest gateway"
	}
	return c, nil
}

func (c *Config) serves(p Protocol) bool { return slices.Contains(c.Protocols, p) }
