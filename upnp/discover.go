package upnp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// ErrNoIGD is returned (wrapped) when no usable Internet Gateway Device
// answered in time. When devices did answer but were unusable, the error
// also wraps the last reason (e.g. ErrNoWANConnection or ErrUnsafeURL).
var ErrNoIGD = errors.New("upnp: no Internet Gateway Device found")

// IGD is a discovered Internet Gateway Device with its chosen WAN
// connection service.
type IGD struct {
	// Location is the URL of the root device description.
	Location *url.URL
	// Gateway is the address that answered the search (or, for an IGD
	// from the cache, the cached one).
	Gateway netip.Addr
	// DeviceType is the IGD's device type URN.
	DeviceType string
	// Version is the IGD version, 1 or 2.
	Version int
	// FriendlyName, Manufacturer and ModelName describe the device.
	FriendlyName string
	Manufacturer string
	ModelName    string
	// UDN is the IGD's unique device name ("uuid:...").
	UDN string
	// BootID is the BOOTID.UPNP.ORG of the SSDP reply; it changes when
	// the device reboots. -1 when unknown (UDA 1.0 devices, cached IGDs).
	BootID int64
	// WAN is the chosen WAN connection service (WANIPConnection or
	// WANPPPConnection).
	WAN *WANConnection
	// Firewall is the WANIPv6FirewallControl service, nil if none.
	Firewall *FirewallControl
	// CommonInterface is the WANCommonInterfaceConfig service, nil if none.
	CommonInterface *Service
	// Services are all services of the description whose URLs passed the
	// safety checks.
	Services []Service
	// FromCache reports that the IGD came from DiscoverOptions.Cache
	// (validated with one SOAP call) rather than from a search.
	FromCache bool
	// ExternalIP is the WAN connection's external address when discovery
	// asked for it (the validation of a cached IGD does), so that callers
	// need not ask again; zero when not asked or when the device had none.
	ExternalIP netip.Addr
}

// DiscoverOptions configure Discover and DiscoverAll. The zero value
// searches by multicast on the default interface only.
type DiscoverOptions struct {
	// Gateway is sent a unicast M-SEARCH at the same moment as the
	// multicast one, and keys the Cache. Package upnp does not detect
	// the default gateway; the caller passes it. Zero means multicast only.
	Gateway netip.Addr
	// SSDPPort is the gateway's SSDP port for the unicast search; 0 means
	// 1900.
	SSDPPort uint16
	// Multicast is where the multicast search goes; zero means
	// SSDPMulticast (239.255.255.250:1900). Tests set a loopback address
	// here: a non-multicast address is simply sent to.
	Multicast netip.AddrPort
	// NoMulticast disables the multicast search (unicast to Gateway only).
	NoMulticast bool
	// Interface names the interface for the multicast search; empty means
	// the system's choice.
	Interface string
	// SearchTargets replaces DefaultSearchTargets; they are all sent at
	// once.
	SearchTargets []string
	// AllowLANLocations accepts description and control URLs on other
	// private, link-local or ULA addresses than the replying device.
	// By default a URL must point at the device that replied.
	AllowLANLocations bool
	// HTTPClient fetches descriptions and makes SOAP calls; nil means a
	// default client (no proxy, timeouts). Redirects are never followed, and
	// response headers are limited to 16 KiB (see NewHTTPClient).
	HTTPClient *http.Client
	// Cache, if set, is consulted first (Gateway must be set) and updated
	// after a successful search.
	Cache Cache
	// Timeout bounds Discover when ctx has no deadline; 0 means 3s.
	Timeout time.Duration
	// Wait is how long DiscoverAll collects replies; 0 means 2s (upnpc
	// waits 2s too). Discover does not wait: it returns on the first
	// usable IGD.
	Wait time.Duration
	// Logger receives debug logs; nil means no logging.
	Logger *slog.Logger
}

const (
	defaultDiscoverTimeout = 3 * time.Second
	defaultDiscoverWait    = 2 * time.Second
	// maxLocations bounds how many distinct descriptions one search
	// fetches (a busy LAN has many UPnP devices answering rootdevice).
	maxLocations = 16
	// describeTimeout bounds fetching and evaluating one description.
	describeTimeout = 4 * time.Second
)

// discoverConfig is DiscoverOptions with defaults applied.
type discoverConfig struct {
	DiscoverOptions
	policy urlPolicy
	log    *slog.Logger
	iface  *net.Interface
	// onLink reports whether an address is on a network of this host's
	// interfaces (replaced in tests).
	onLink func(netip.Addr) bool
}

func newDiscoverConfig(o DiscoverOptions) (*discoverConfig, error) {
	c := &discoverConfig{DiscoverOptions: o, policy: urlPolicy{allowLAN: o.AllowLANLocations}, log: o.Logger, onLink: onLink}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.SSDPPort == 0 {
		c.SSDPPort = SSDPPort
	}
	if !c.Multicast.IsValid() {
		c.Multicast = SSDPMulticast
	}
	if c.Timeout <= 0 {
		c.Timeout = defaultDiscoverTimeout
	}
	if c.Wait <= 0 {
		c.Wait = defaultDiscoverWait
	}
	c.Gateway = c.Gateway.Unmap()
	if c.Interface != "" {
		ifi, err := net.InterfaceByName(c.Interface)
		if err != nil {
			return nil, fmt.Errorf("upnp: interface %q: %w", c.Interface, err)
		}
		c.iface = ifi
	}
	return c, nil
}

func (c *discoverConfig) searchConfig() searchConfig {
	sc := searchConfig{iface: c.iface, first: c.SearchTargets, log: c.log}
	if len(c.SearchTargets) == 0 {
		// Default: IGD:1 first, the rest shortly after (see laterDelay).
		sc.first, sc.later = DefaultSearchTargets[:1], DefaultSearchTargets[1:]
	}
	if c.Gateway.IsValid() {
		sc.unicast = netip.AddrPortFrom(c.Gateway, c.SSDPPort)
	}
	if !c.NoMulticast {
		sc.multicast = c.Multicast
	}
	return sc
}

// Discover finds an Internet Gateway Device and returns the first one whose
// description yields a usable WAN connection service. It sends M-SEARCH for
// IGD:1 by unicast to opts.Gateway and by multicast at the same moment,
// and 100 ms later for IGD:2, WANIPConnection, WANPPPConnection and
// upnp:rootdevice (to the gateway only when it is known); every target
// goes out both ways again at 500 ms and 1.5 s, unless the gateway is
// being described by then. It fetches descriptions concurrently as replies
// arrive and returns without waiting for the rest (no MX wait). With an
// IPv4 opts.Gateway only the gateway's own replies count. With opts.Cache,
// a cached IGD for opts.Gateway is tried first.
func Discover(ctx context.Context, opts DiscoverOptions) (*IGD, error) {
	c, err := newDiscoverConfig(opts)
	if err != nil {
		return nil, err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.Timeout)
		defer cancel()
	}
	if c.Cache != nil && c.Gateway.IsValid() {
		igd, err := c.fromCache(ctx)
		if err == nil {
			return igd, nil
		}
		c.log.Debug("upnp: cached IGD not usable", "gateway", c.Gateway, "err", err)
	}
	igds, err := c.search(ctx, false)
	if err != nil {
		return nil, err
	}
	igd := igds[0]
	// The entry is stored under the address that answered: a cached entry
	// is used only for the gateway it names (a gateway named by its IPv6
	// address may answer from its IPv4 one; that entry serves the next
	// lookup by the IPv4 address).
	if c.Cache != nil {
		if err := c.Cache.Put(igd.Gateway, entryFromIGD(igd)); err != nil {
			c.log.Debug("upnp: storing IGD in cache", "err", err)
		}
	}
	return igd, nil
}

// DiscoverAll searches like Discover but collects every usable IGD that
// answers within opts.Wait (or until ctx ends), one per device UDN. It
// returns ErrNoIGD when there is none. The cache is not consulted, but
// every IGD found is stored in it under its replying address.
func DiscoverAll(ctx context.Context, opts DiscoverOptions) ([]*IGD, error) {
	c, err := newDiscoverConfig(opts)
	if err != nil {
		return nil, err
	}
	igds, err := c.search(ctx, true)
	if err != nil {
		return nil, err
	}
	if c.Cache != nil {
		for _, igd := range igds {
			if err := c.Cache.Put(igd.Gateway, entryFromIGD(igd)); err != nil {
				c.log.Debug("upnp: storing IGD in cache", "err", err)
			}
		}
	}
	return igds, nil
}

type describeResult struct {
	igd *IGD
	err error
	// held is true when the search was paused for this device.
	held bool
}

// search runs one SSDP search. With all false it returns the first usable
// IGD; with all true every usable IGD found within c.Wait.
func (c *discoverConfig) search(ctx context.Context, all bool) ([]*IGD, error) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait() // every goroutine of this search has ended on return
	}()

	replies := make(chan *SearchResponse, 16)
	results := make(chan describeResult)
	searchDone := make(chan error, 1)
	sc := c.searchConfig()
	var holding atomic.Int32 // descriptions of the gateway being fetched
	if !all {
		sc.paused = func() bool { return holding.Load() > 0 }
	}
	wg.Go(func() { searchDone <- ssdpSearch(ctx, sc, replies) })

	var waitC <-chan time.Time
	if all {
		t := time.NewTimer(c.Wait)
		defer t.Stop()
		waitC = t.C
	}
	var (
		seen     = make(map[string]bool)
		udns     = make(map[string]bool)
		found    []*IGD
		inflight int
		lastErr  error
		stopped  bool // no more replies accepted (DiscoverAll's wait is over)
	)
	for {
		if stopped && inflight == 0 {
			return c.collected(found, lastErr)
		}
		select {
		case r := <-replies:
			if stopped {
				continue
			}
			if err := c.replier(r.From.Addr(), all); err != nil {
				lastErr = err
				c.log.Debug("upnp: SSDP reply ignored", "from", r.From, "err", err)
				continue
			}
			loc, err := c.location(r)
			if err != nil {
				lastErr = err
				c.log.Debug("upnp: SSDP reply refused", "from", r.From, "err", err)
				continue
			}
			key := loc.String()
			if seen[key] || len(seen) >= maxLocations {
				continue
			}
			seen[key] = true
			inflight++
			// Hold further searches while the gateway itself is being
			// described (see searchConfig.paused); another device's
			// answer does not mean the gateway heard us.
			held := !c.Gateway.IsValid() || r.From.Addr().WithZone("") == c.Gateway.WithZone("")
			if held {
				holding.Add(1)
			}
			wg.Go(func() {
				igd, err := c.describe(ctx, loc, r)
				select {
				case results <- describeResult{igd, err, held}:
				case <-ctx.Done():
				}
			})
		case res := <-results:
			inflight--
			if res.held {
				holding.Add(-1)
			}
			if res.err != nil {
				lastErr = res.err
				c.log.Debug("upnp: device not usable", "err", res.err)
				continue
			}
			if !all {
				return []*IGD{res.igd}, nil
			}
			id := res.igd.UDN
			if id == "" {
				id = res.igd.Location.String()
			}
			if !udns[id] {
				udns[id] = true
				found = append(found, res.igd)
			}
		case <-waitC:
			stopped = true
		case err := <-searchDone:
			searchDone = nil
			if err != nil {
				// The sockets failed; only in-flight fetches can still
				// produce a result.
				lastErr = err
				stopped = true
			}
		case <-ctx.Done():
			if len(found) > 0 {
				return found, nil
			}
			return nil, noIGDError(ctx.Err(), lastErr)
		}
	}
}

// replier decides whether a device that answered a search may be asked
// for its description.
//
// With an IPv4 gateway named, Discover takes only the gateway's answers:
// another IGD on the LAN (a mesh node, a second router, a miniupnpd in a
// container) holds mappings that never see the traffic arriving at the
// gateway, and waiting for the gateway's own answer costs nothing when it
// is up. (A gateway named by an IPv6 address answers the IPv4 multicast
// search from its IPv4 address, so then any LAN device is taken.)
// DiscoverAll takes every device, to report them all, except with
// NoMulticast. In every case the device must be on the local network.
func (c *discoverConfig) replier(from netip.Addr, all bool) error {
	from = from.Unmap().WithZone("")
	gw := c.Gateway.Unmap().WithZone("")
	if from == gw {
		return nil
	}
	if gw.IsValid() && (c.NoMulticast || (!all && gw.Is4())) {
		return fmt.Errorf("%w: SSDP reply from %s, which is not the gateway %s", ErrUnsafeURL, from, gw)
	}
	if !isLANAddr(from) && !c.onLink(from) {
		return fmt.Errorf("%w: SSDP reply from %s, which is not on the local network", ErrUnsafeURL, from)
	}
	return nil
}

func (c *discoverConfig) collected(found []*IGD, lastErr error) ([]*IGD, error) {
	if len(found) > 0 {
		return found, nil
	}
	return nil, noIGDError(nil, lastErr)
}

func noIGDError(ctxErr, last error) error {
	switch {
	case last != nil:
		return fmt.Errorf("%w: %w", ErrNoIGD, last)
	case ctxErr != nil:
		return fmt.Errorf("%w: %w", ErrNoIGD, ctxErr)
	}
	return ErrNoIGD
}

// location validates a reply's LOCATION: an http URL whose host is the
// replying device (or, with AllowLANLocations, another LAN address).
func (c *discoverConfig) location(r *SearchResponse) (*url.URL, error) {
	u, err := url.Parse(r.Location)
	if err != nil {
		return nil, fmt.Errorf("%w: LOCATION %.100q: %v", ErrUnsafeURL, r.Location, err)
	}
	if _, err := c.policy.check(u, r.From.Addr()); err != nil {
		return nil, err
	}
	return withZone(u, r.From.Addr().Zone()), nil
}

// describe fetches and evaluates the description at loc.
func (c *discoverConfig) describe(ctx context.Context, loc *url.URL, r *SearchResponse) (*IGD, error) {
	ctx, cancel := context.WithTimeout(ctx, describeTimeout)
	defer cancel()
	start := time.Now()
	b, err := fetchDescription(ctx, c.HTTPClient, loc)
	if err != nil {
		return nil, err
	}
	d, err := ParseDescription(b, loc)
	if err != nil {
		return nil, err
	}
	igd, err := c.buildIGD(ctx, d, r.From.Addr())
	if err != nil {
		return nil, err
	}
	igd.BootID = r.BootID
	c.log.Debug("upnp: IGD found", "location", loc, "wan", igd.WAN.Service.Type, "took", time.Since(start))
	return igd, nil
}
