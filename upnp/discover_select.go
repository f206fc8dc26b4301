package upnp

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"sync"
	"time"
)

// ErrNoWANConnection is wrapped when a description has no usable
// WANIPConnection or WANPPPConnection service.
var ErrNoWANConnection = errors.New("upnp: no WAN connection service in description")

// probeTimeout bounds the status calls used to choose among several WAN
// connection services.
const probeTimeout = 2 * time.Second

// wanCandidate is a WAN connection service with the chain of devices from
// the root to the device that holds it.
type wanCandidate struct {
	svc  Service
	path []*Device
}

// buildIGD turns a description into an IGD: it drops services whose URLs
// point off the description's host, chooses the WAN connection service,
// and finds the firewall and common interface services that go with it.
func (c *discoverConfig) buildIGD(ctx context.Context, d *Description, replier netip.Addr) (*IGD, error) {
	// Service URLs must point at the host the description came from. The
	// description host itself was checked against the replier.
	descHost, err := c.policy.check(d.Location, replier)
	if err != nil {
		return nil, err
	}
	var (
		cands    []wanCandidate
		services []Service
		unsafe   error
	)
	d.Root.walk(nil, func(path []*Device) {
		dev := path[len(path)-1]
		for _, s := range dev.Services {
			if err := c.checkService(s, descHost); err != nil {
				unsafe = err
				c.log.Debug("upnp: service dropped", "type", s.Type, "err", err)
				continue
			}
			services = append(services, s)
			if isWANConnection(s.Type) && s.ControlURL != nil {
				cands = append(cands, wanCandidate{svc: s, path: slices.Clone(path)})
			}
		}
	})
	if len(cands) == 0 {
		if unsafe != nil {
			return nil, fmt.Errorf("%w (%s): %w", ErrNoWANConnection, d.Location.Redacted(), unsafe)
		}
		return nil, fmt.Errorf("%w (%s)", ErrNoWANConnection, d.Location.Redacted())
	}
	best := c.chooseWAN(ctx, cands)

	// The IGD is the nearest InternetGatewayDevice above the chosen
	// service; descriptions whose root is something else (a NAS or media
	// box embedding an IGD) are handled alike. Without one, the root.
	igdDev := &d.Root
	for i := len(best.path) - 1; i >= 0; i-- {
		if igdVersion(best.path[i].DeviceType) > 0 {
			igdDev = best.path[i]
			break
		}
	}
	igd := &IGD{
		Location:     d.Location,
		Gateway:      replier,
		DeviceType:   igdDev.DeviceType,
		Version:      igdVersion(igdDev.DeviceType),
		FriendlyName: igdDev.FriendlyName,
		Manufacturer: igdDev.Manufacturer,
		ModelName:    igdDev.ModelName,
		UDN:          igdDev.UDN,
		BootID:       -1,
		WAN:          NewWANConnection(best.svc, c.HTTPClient),
		Services:     services,
	}
	if igd.Version == 0 {
		// Not typed as an IGD (some TR-064 roots): infer from the service.
		_, igd.Version, _ = urnType(best.svc.Type, "service")
		igd.Version = min(max(igd.Version, 1), 2)
	}
	// Prefer the firewall service of the chosen connection device and the
	// common interface service of its WAN device; fall back to any.
	if s := nearestService(best.path, kindFirewall, services); s != nil {
		igd.Firewall = NewFirewallControl(*s, c.HTTPClient)
	}
	if s := nearestService(best.path, kindCommonInterface, services); s != nil {
		cp := *s
		igd.CommonInterface = &cp
	}
	return igd, nil
}

// checkService applies the URL policy to every URL of s.
func (c *discoverConfig) checkService(s Service, descHost netip.Addr) error {
	urls := [...]struct {
		name string
		u    *url.URL
	}{{"controlURL", s.ControlURL}, {"eventSubURL", s.EventSubURL}, {"SCPDURL", s.SCPDURL}}
	for _, f := range urls {
		if f.u == nil {
			continue
		}
		if _, err := c.policy.check(f.u, descHost); err != nil {
			return fmt.Errorf("%s: %w", f.name, err)
		}
	}
	return nil
}

// nearestService returns the service of kind k closest to the end of path
// (same device, then its parents), else the first one in services.
func nearestService(path []*Device, k serviceKind, services []Service) *Service {
	for i := len(path) - 1; i >= 0; i-- {
		for j := range path[i].Services {
			s := &path[i].Services[j]
			if classifyService(s.Type) == k && slices.ContainsFunc(services, func(t Service) bool { return t.ControlURL == s.ControlURL }) {
				return s
			}
		}
	}
	for i := range services {
		if classifyService(services[i].Type) == k {
			return &services[i]
		}
	}
	return nil
}

// chooseWAN picks among several WAN connection services: connected with a
// public external address, then connected with a private one (double NAT),
// then any, in description order on ties. Routers list several: DSL
// routers (e.g. Speedport, FRITZ!Box) have a WANPPPConnection for the DSL
// link and a disconnected WANIPConnection for a cable/ethernet WAN, or
// one connection device per VLAN; the first is often the dead one. With a
// single candidate there is nothing to choose and no call is made.
func (c *discoverConfig) chooseWAN(ctx context.Context, cands []wanCandidate) wanCandidate {
	if len(cands) == 1 {
		return cands[0]
	}
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	scores := make([]int, len(cands))
	var wg sync.WaitGroup
	for i := range cands {
		wg.Go(func() { scores[i] = scoreWAN(ctx, NewWANConnection(cands[i].svc, c.HTTPClient)) })
	}
	wg.Wait()
	best := 0
	for i, s := range scores {
		c.log.Debug("upnp: WAN connection candidate", "type", cands[i].svc.Type, "control", cands[i].svc.ControlURL, "score", s)
		if s > scores[best] {
			best = i
		}
	}
	return cands[best]
}

// scoreWAN rates a WAN connection: 2 for Connected, plus 2 for a public
// external address or 1 for a private one. Connected+public (4) beats
// connected+private (3, double NAT) beats anything else.
func scoreWAN(ctx context.Context, w *WANConnection) int {
	score := 0
	var wg sync.WaitGroup
	var connected bool
	var ip netip.Addr
	wg.Go(func() {
		st, err := w.GetStatusInfo(ctx)
		connected = err == nil && st.Connected()
	})
	wg.Go(func() {
		// "" and 0.0.0.0 come back as errors wrapping
		// ErrNoExternalAddress (routers report them while the link is
		// down); they score nothing.
		ip, _ = w.GetExternalIPAddress(ctx)
	})
	wg.Wait()
	if connected {
		score += 2
	}
	switch {
	case isPublicAddr(ip):
		score += 2
	case ip.IsValid() && !ip.IsUnspecified():
		score++
	}
	return score
}

// isPublicAddr reports whether a is a globally routable unicast address:
// not private, loopback, link-local, unspecified or carrier-grade NAT
// (100.64.0.0/10, RFC 6598), which means another NAT upstream.
func isPublicAddr(a netip.Addr) bool {
	a = a.Unmap()
	if !a.IsValid() || !a.IsGlobalUnicast() || a.IsPrivate() {
		return false
	}
	return !cgnat.Contains(a)
}

var cgnat = netip.MustParsePrefix("100.64.0.0/10")
