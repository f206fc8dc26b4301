package portmap

import (
	"cmp"
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/portmap-dev/portmap/internal/netinfo"
	"github.com/portmap-dev/portmap/upnp"
)

// GatewayInfo is what [DiscoverAll] learnt about one gateway.
type GatewayInfo struct {
	// Address is the gateway's address.
	Address netip.Addr
	// ExternalIP is the external address reported (by the best protocol
	// that reported one).
	ExternalIP netip.Addr
	// Probes has one result for each protocol probed, best protocol first.
	Probes []ProbeResult
	// OffRoute is true for a device that answered the UPnP multicast
	// search but is not a gateway this host routes through (a second
	// router or a mesh node on the LAN): its mappings do not receive the
	// traffic that arrives at the default gateway.
	OffRoute bool
}

// Protocols lists the protocols that answered, best first.
func (g GatewayInfo) Protocols() []Protocol {
	var ps []Protocol
	for _, p := range g.Probes {
		if p.Err == nil {
			ps = append(ps, p.Protocol)
		}
	}
	return ps
}

// Warnings are sentences for the user about the gateway: double NAT,
// carrier-grade NAT, no external address, disagreeing protocols, not on
// this host's route.
func (g GatewayInfo) Warnings() []string {
	var ws []string
	if len(g.Protocols()) == 0 {
		return nil
	}
	if g.OffRoute {
		ws = append(ws, "not a gateway of this host's routes: mappings made there do not receive what arrives at your default gateway")
	}
	if w := ClassifyAddress(g.ExternalIP).Warning(); w != "" {
		ws = append(ws, w)
	}
	for _, p := range g.Probes {
		if p.Err == nil && p.ExternalIP.IsValid() && g.ExternalIP.IsValid() && p.ExternalIP != g.ExternalIP {
			ws = append(ws, fmt.Sprintf("%s reports external address %s, others %s", p.Protocol, p.ExternalIP, g.ExternalIP))
		}
	}
	return ws
}

const (
	// allProbeTimeout bounds each protocol's probe in DiscoverAll, so that
	// one protocol the gateway ignores does not hold up the report.
	allProbeTimeout = 2 * time.Second
	// lanSearchWait is how long DiscoverAll collects answers to its UPnP
	// multicast search: devices answer within MX (1 s) of the search.
	lanSearchWait = 1200 * time.Millisecond
)

// DiscoverAll reports every gateway it finds: each default gateway of
// this host (or the one named in opts), probed with every enabled protocol
// (each at most 2 s, within ctx), and any other UPnP IGD answering a
// multicast search on the LAN (marked OffRoute). Gateways that answered
// no protocol are left out; when none answered, the error is a
// *NoGatewayError for the first gateway.
func DiscoverAll(ctx context.Context, opts Options) ([]GatewayInfo, error) {
	start := time.Now()
	targets, err := resolveTargets(ctx, &opts)
	if err != nil {
		return nil, err
	}
	pctx, cancel := context.WithTimeout(ctx, allProbeTimeout)
	defer cancel()
	infos := make([]GatewayInfo, len(targets))
	tried := make([]map[Protocol]error, len(targets))
	var others []GatewayInfo
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Go(func() { infos[i], tried[i] = probeGateway(pctx, t) })
	}
	if search, ok := lanSearch(&opts); ok {
		wg.Go(func() { others = lanIGDs(pctx, search, targets) })
	}
	wg.Wait()
	var out []GatewayInfo
	for _, g := range infos {
		if len(g.Protocols()) > 0 {
			out = append(out, g)
		}
	}
	out = append(out, others...)
	if len(out) == 0 {
		return nil, &NoGatewayError{Gateway: targets[0].gateway, Tried: tried[0], Elapsed: time.Since(start)}
	}
	return out, nil
}

// resolveTargets returns the gateways DiscoverAll probes: the one opts
// names (or the gateway of opts.Interface), else every IPv4 default
// gateway, the preferred first.
func resolveTargets(ctx context.Context, opts *Options) ([]*target, error) {
	if opts.Gateway.IsValid() || opts.Interface != "" {
		t, err := resolveTarget(ctx, opts)
		if err != nil {
			return nil, err
		}
		return []*target{t}, nil
	}
	gws, err := netinfo.DefaultGateways()
	if err != nil {
		return nil, &NoGatewayError{Tried: map[Protocol]error{}, Err: fmt.Errorf("finding the default gateway: %w", err)}
	}
	var targets []*target
	var firstErr error
	for _, a := range gatewayAddrs(gws) {
		o := *opts
		o.Gateway = a
		t, err := resolveTarget(ctx, &o)
		if err != nil {
			firstErr = cmp.Or(firstErr, err)
			continue
		}
		targets = append(targets, t)
	}
	if len(targets) == 0 {
		if firstErr == nil {
			firstErr = &NoGatewayError{Tried: map[Protocol]error{}, Err: fmt.Errorf("finding the default gateway: %w", netinfo.ErrNoGateway)}
		}
		return nil, firstErr
	}
	return targets, nil
}

// gatewayAddrs returns the distinct IPv4 gateway addresses of gws, in
// order (NAT-PMP and the IGD's IPv4 service need an IPv4 gateway).
func gatewayAddrs(gws []netinfo.Gateway) []netip.Addr {
	var out []netip.Addr
	for _, g := range gws {
		a := g.Addr.Unmap()
		if a.Is4() && !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

// probeGateway probes t with every enabled protocol at once and waits for
// all of them.
func probeGateway(ctx context.Context, t *target) (GatewayInfo, map[Protocol]error) {
	t.full = true
	protos := enabled(t.opts)
	results := make([]probeResult, len(protos))
	var wg sync.WaitGroup
	for i, p := range protos {
		wg.Go(func() { results[i] = probe(ctx, t, p) })
	}
	wg.Wait()
	for i, r := range results {
		if r.b != nil && r.info.Err == nil && r.info.Protocol == PCP && !r.info.ExternalIP.IsValid() {
			if ip, err := r.b.externalIP(ctx); err == nil {
				results[i].info.ExternalIP = ip
			}
		}
	}
	g := GatewayInfo{Address: t.gateway}
	tried := map[Protocol]error{}
	for _, r := range results {
		if r.b != nil {
			r.b.close()
		}
		g.Probes = append(g.Probes, r.info)
		if r.info.Err != nil {
			tried[r.info.Protocol] = r.info.Err
		} else if !g.ExternalIP.IsValid() {
			g.ExternalIP = r.info.ExternalIP
		}
	}
	return g, tried
}

// lanSearch returns the options of DiscoverAll's UPnP multicast search,
// and false when there is none: UPnP not enabled, or a test gateway on
// its own port (nothing may go out to the LAN's multicast group then).
func lanSearch(opts *Options) (upnp.DiscoverOptions, bool) {
	o := upnp.DiscoverOptions{Interface: opts.Interface, Wait: lanSearchWait, Logger: opts.logger()}
	if opts.lanSearchAddr.IsValid() {
		o.Multicast = opts.lanSearchAddr // tests: a loopback "group"
	} else if opts.GatewayPort != 0 {
		return o, false
	}
	return o, opts.wants(UPnP)
}

// lanIGDs runs the multicast search and describes each IGD that is not at
// one of the targets' addresses (those are probed already).
func lanIGDs(ctx context.Context, o upnp.DiscoverOptions, targets []*target) []GatewayInfo {
	igds, err := upnp.DiscoverAll(ctx, o)
	if err != nil {
		return nil
	}
	var out []GatewayInfo
	seen := map[netip.Addr]bool{}
	for _, t := range targets {
		seen[t.gateway] = true
	}
	for _, igd := range igds {
		a := igd.Gateway.Unmap()
		if seen[a] {
			continue
		}
		seen[a] = true
		start := time.Now()
		info := ProbeResult{Protocol: UPnP, Version: upnpVersion(igd), ExternalIP: igd.ExternalIP}
		if st, err := igd.WAN.GetStatusInfo(ctx); err == nil {
			info.Status = st.ConnectionStatus
		}
		info.RTT = time.Since(start)
		if !info.ExternalIP.IsValid() {
			if ext, err := igd.WAN.GetExternalIPAddress(ctx); err == nil {
				info.ExternalIP = ext
			}
		}
		out = append(out, GatewayInfo{Address: a, ExternalIP: info.ExternalIP, Probes: []ProbeResult{info}, OffRoute: true})
	}
	return out
}
