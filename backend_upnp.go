package portmap

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/portmap-dev/portmap/upnp"
)

// upnpBackend maps with UPnP IGD through one WAN connection service.
type upnpBackend struct {
	igd    *upnp.IGD
	gw     netip.Addr
	local  netip.Addr
	testGW bool // a test gateway on its own port: no multicast
	iface  string
	logger *slog.Logger

	mu       sync.Mutex
	external netip.Addr
	uptime   time.Duration // last GetStatusInfo uptime, for reboot detection
	uptimeAt time.Time     // when it was read
	bootID   int64         // last BOOTID.UPNP.ORG seen, -1 unknown
}

// upnpCaches holds one cache per file, so that the clients of one process
// share it.
var upnpCaches sync.Map // path -> upnp.Cache

func upnpCache(path string) upnp.Cache {
	if path == "" {
		path = "\x00memory"
	}
	if c, ok := upnpCaches.Load(path); ok {
		return c.(upnp.Cache)
	}
	var c upnp.Cache = upnp.NewMemoryCache()
	if path != "\x00memory" {
		c = upnp.NewFileCache(path)
	}
	actual, _ := upnpCaches.LoadOrStore(path, c)
	return actual.(upnp.Cache)
}

func probeUPnP(ctx context.Context, t *target) probeResult {
	opts := upnp.DiscoverOptions{
		Gateway:   t.gateway,
		SSDPPort:  t.port,
		Interface: t.opts.Interface,
		Cache:     upnpCache(t.opts.UPnPCachePath),
		Logger:    t.opts.logger(),
	}
	if t.port != 0 {
		// A test gateway on its own port (portmap simulate, portmaptest):
		// unicast only, nothing goes out to the LAN's multicast group, and
		// no cache: the cache is keyed by address, and several test
		// gateways share 127.0.0.1.
		opts.NoMulticast = true
		opts.Cache = nil
	}
	igd, err := upnp.Discover(ctx, opts)
	if err != nil {
		return probeResult{info: ProbeResult{Err: err}}
	}
	if igd.Gateway != t.gateway && t.gateway.Is4() {
		// Another device answered the multicast search: mappings on it
		// would not carry traffic arriving at our gateway. (A gateway named
		// by its IPv6 address answers the IPv4 multicast search from its
		// IPv4 address: that is the same router.)
		return probeResult{info: ProbeResult{Err: fmt.Errorf("upnp: only %s answered, not the gateway %s", igd.Gateway, t.gateway)}}
	}
	b := &upnpBackend{igd: igd, gw: t.gateway, local: t.local, testGW: t.port != 0, iface: t.opts.Interface,
		logger: t.opts.logger(), bootID: igd.BootID, external: igd.ExternalIP}
	info := ProbeResult{Version: upnpVersion(igd)}
	if !t.full {
		// Discover needs no more: every request counts (miniupnpd answers
		// each in time growing with its table), and the external address
		// is asked for when a mapping needs it.
		return probeResult{b: b, info: info}
	}
	if st, err := igd.WAN.GetStatusInfo(ctx); err == nil {
		info.Status = st.ConnectionStatus
		b.uptime, b.uptimeAt = st.Uptime, time.Now()
	}
	if ext, err := igd.WAN.GetExternalIPAddress(ctx); err == nil {
		b.external = ext
		info.ExternalIP = ext
	}
	return probeResult{b: b, info: info}
}

// upnpVersion describes the IGD: "IGD:2 WANIPConnection:2".
func upnpVersion(igd *upnp.IGD) string {
	svc := igd.WAN.Service.Type
	if i := strings.LastIndex(svc, ":service:"); i >= 0 {
		svc = svc[i+len(":service:"):]
	}
	return fmt.Sprintf("IGD:%d %s", igd.Version, svc)
}

func (b *upnpBackend) protocol() Protocol { return UPnP }
func (b *upnpBackend) close() error       { return nil }

func (b *upnpBackend) externalIP(ctx context.Context) (netip.Addr, error) {
	ext, err := b.igd.WAN.GetExternalIPAddress(ctx)
	if err != nil {
		return netip.Addr{}, err
	}
	b.mu.Lock()
	b.external = ext
	b.mu.Unlock()
	return ext, nil
}

func (b *upnpBackend) knownExternal(ctx context.Context) netip.Addr {
	b.mu.Lock()
	ext := b.external
	b.mu.Unlock()
	if !ext.IsValid() {
		ext, _ = b.externalIP(ctx) // the mapping stands even if this fails
	}
	return ext
}

func upnpProto(t Transport) string {
	if t == UDP {
		return "UDP"
	}
	return "TCP"
}

func (b *upnpBackend) add(ctx context.Context, req Request) (Mapping, error) {
	pm := upnp.PortMapping{
		ExternalPort:   req.ExternalPort,
		Protocol:       upnpProto(req.Transport),
		InternalPort:   req.InternalPort,
		InternalClient: req.InternalIP,
		Enabled:        true,
		Description:    req.Description,
		LeaseDuration:  req.Lifetime,
	}
	res, err := b.igd.WAN.AddPortMappingWithFallbacks(ctx, pm, upnp.AddOptions{AnyPortOnConflict: !req.ExactPort})
	if err != nil {
		return Mapping{}, err
	}
	m := Mapping{
		Protocol:    UPnP,
		Gateway:     b.gw,
		Transport:   req.Transport,
		External:    netip.AddrPortFrom(b.knownExternal(ctx), res.ExternalPort),
		Internal:    netip.AddrPortFrom(req.InternalIP, req.InternalPort),
		Lifetime:    res.LeaseDuration,
		Description: req.Description,
		Permanent:   res.Permanent,
	}
	if m.Lifetime > 0 {
		m.Expires = time.Now().Add(m.Lifetime)
	}
	return m, nil
}

func (b *upnpBackend) refresh(ctx context.Context, m Mapping, lifetime time.Duration) (Mapping, error) {
	// UPnP renews by adding the same mapping again: same external port,
	// same client, which the gateway treats as an update, not a conflict.
	return b.add(ctx, Request{
		Transport:    m.Transport,
		InternalPort: m.Internal.Port(),
		InternalIP:   m.Internal.Addr(),
		ExternalPort: m.External.Port(),
		ExactPort:    true,
		Lifetime:     lifetime,
		Description:  m.Description,
	})
}

func (b *upnpBackend) remove(ctx context.Context, m Mapping) error {
	return b.igd.WAN.DeletePortMapping(ctx, netip.Addr{}, m.External.Port(), upnpProto(m.Transport))
}

func (b *upnpBackend) list(ctx context.Context) ([]Mapping, error) {
	// The external address is asked for while the table is listed: each
	// request waits its turn in miniupnpd's loop, and with 100 mappings a
	// GetExternalIPAddress after the listing added 0.2-0.3 s to a cold
	// `portmap list` (measured in the testbed, miniupnpd 2.3.1).
	extc := make(chan netip.Addr, 1)
	go func() { extc <- b.knownExternal(ctx) }()
	pms, err := b.igd.WAN.ListPortMappings(ctx, upnp.ListOptions{Manage: true, MaxPerReply: listPerReply})
	ext := <-extc
	if err != nil && len(pms) == 0 {
		return nil, err
	}
	now := time.Now()
	ms := make([]Mapping, 0, len(pms))
	for _, pm := range pms {
		tr := TCP
		if strings.EqualFold(pm.Protocol, "UDP") {
			tr = UDP
		}
		m := Mapping{
			Protocol:    UPnP,
			Gateway:     b.gw,
			Transport:   tr,
			External:    netip.AddrPortFrom(ext, pm.ExternalPort),
			Internal:    netip.AddrPortFrom(pm.InternalClient, pm.InternalPort),
			Lifetime:    pm.LeaseDuration,
			Description: pm.Description,
		}
		if m.Lifetime > 0 {
			m.Expires = now.Add(m.Lifetime)
		}
		ms = append(ms, m)
	}
	if err != nil {
		return ms, fmt.Errorf("portmap: upnp: listing stopped early: %w", err)
	}
	return ms, nil
}

// ping reads the connection's uptime: one that fell behind what the time
// since the last reading predicts means the gateway (or its UPnP daemon)
// restarted and lost its mappings. UPnP has no epoch; GetStatusInfo's
// NewUptime serves as one, checked with NAT-PMP's rule (RFC 6886 §3.6): at
// least 7/8 of the elapsed time, less 2 s, must have passed on it too.
func (b *upnpBackend) ping(ctx context.Context) (gatewaySignal, error) {
	st, err := b.igd.WAN.GetStatusInfo(ctx)
	if err != nil {
		return gatewaySignal{}, err
	}
	now := time.Now()
	b.mu.Lock()
	prev, prevAt := b.uptime, b.uptimeAt
	b.uptime, b.uptimeAt = st.Uptime, now
	b.mu.Unlock()
	if !prevAt.IsZero() && st.Uptime+2*time.Second < prev+now.Sub(prevAt)*7/8 {
		booted := now.Add(-st.Uptime)
		if booted.Before(prevAt) {
			booted = now
		}
		return gatewaySignal{reboot: true, bootedAt: booted}, nil
	}
	return gatewaySignal{}, nil
}

// listPerReply is the most entries one GetListOfPortMappings reply may
// hold: the largest the upnp package allows (miniupnpd dies past 128),
// because on miniupnpd every request costs time growing with the table,
// so fewer, larger replies win: a table of up to 128 entries is listed
// with one size probe and one request per protocol.
const listPerReply = upnp.MaxSafePerReply
