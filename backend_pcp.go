package portmap

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/portmap-dev/portmap/pcp"
)

// pcpFirstTimeout shortens RFC 6887's 3 s first retransmission timeout
// for interactive use: on a LAN the answer comes in milliseconds, and a
// lost packet should cost a quarter second, not three.
const pcpFirstTimeout = 250 * time.Millisecond

// pcpBackend maps with PCP, or with NAT-PMP once the gateway has
// refused PCP as a NAT-PMP-only router does (see pcpFallback).
type pcpBackend struct {
	c      *pcp.Client
	gw     netip.Addr
	local  netip.Addr
	testGW bool // a test gateway on its own port: no multicast

	onEvent atomic.Pointer[func(pcp.Event)] // set while a keeper watches

	fallback pcpFallback
}

func probePCP(ctx context.Context, t *target) probeResult {
	b := &pcpBackend{gw: t.gateway, local: t.local, testGW: t.port != 0}
	b.fallback.init(func() (*natpmpBackend, error) { return newNATPMPBackend(t) }, t.opts.logger())
	c, err := pcp.NewClient(netip.AddrPortFrom(t.gateway, t.serverPort(pcp.ServerPort)),
		pcp.WithFirstTimeout(pcpFirstTimeout), pcp.WithLocalAddr(t.local), pcp.WithLogger(t.opts.logger()),
		pcp.WithEventHandler(b.dispatch))
	if err != nil {
		return probeResult{info: ProbeResult{Err: err}}
	}
	b.c = c
	if _, err := c.Announce(ctx); err != nil {
		// A NAT-PMP-only gateway answers UNSUPP_VERSION: the NAT-PMP
		// probe running beside this one takes over. PCP is tried first
		// again the next time (nothing is remembered).
		return probeResult{b: b, info: ProbeResult{Err: err}}
	}
	return probeResult{b: b, info: ProbeResult{Version: "PCP v2"}}
}

// protocol is PCP, or NATPMP once the backend has switched.
func (b *pcpBackend) protocol() Protocol {
	if b.fallback.natpmp() != nil {
		return NATPMP
	}
	return PCP
}

func (b *pcpBackend) close() error {
	return errors.Join(b.c.Close(), b.fallback.close())
}

func (b *pcpBackend) externalIP(ctx context.Context) (netip.Addr, error) {
	return withFallback(&b.fallback,
		func() (netip.Addr, error) { return b.c.ExternalAddress(ctx) },
		func(nb *natpmpBackend) (netip.Addr, error) { return nb.externalIP(ctx) })
}

func pcpProto(t Transport) pcp.Protocol {
	if t == UDP {
		return pcp.UDP
	}
	return pcp.TCP
}

func (b *pcpBackend) add(ctx context.Context, req Request) (Mapping, error) {
	return withFallback(&b.fallback,
		func() (Mapping, error) { return b.addPCP(ctx, req) },
		func(nb *natpmpBackend) (Mapping, error) { return nb.add(ctx, req) })
}

func (b *pcpBackend) addPCP(ctx context.Context, req Request) (Mapping, error) {
	r := pcp.MapRequest{
		Protocol:          pcpProto(req.Transport),
		InternalPort:      req.InternalPort,
		SuggestedExternal: netip.AddrPortFrom(netip.IPv4Unspecified(), req.ExternalPort),
		Lifetime:          req.Lifetime,
	}
	if req.InternalIP.Is6() && !req.InternalIP.Is4In6() {
		r.SuggestedExternal = netip.AddrPortFrom(netip.IPv6Unspecified(), req.ExternalPort)
	}
	if req.InternalIP != b.local {
		r.Options.ThirdParty = req.InternalIP
	}
	if req.ExactPort {
		// The caller wants this port or nothing: PCP can say so itself.
		r.Options.PreferFailure = true
	}
	m, err := b.c.Map(ctx, r)
	if err != nil {
		return Mapping{}, err
	}
	return b.mapping(req.Transport, m, req.Description), nil
}

func (b *pcpBackend) mapping(tr Transport, m *pcp.Mapping, desc string) Mapping {
	internal := m.InternalAddr
	if !internal.IsValid() {
		internal = b.local
	}
	return Mapping{
		Protocol:    PCP,
		Gateway:     b.gw,
		Transport:   tr,
		External:    netip.AddrPortFrom(m.External.Addr().Unmap(), m.External.Port()),
		Internal:    netip.AddrPortFrom(internal.Unmap(), m.InternalPort),
		Lifetime:    m.Lifetime,
		Expires:     m.Expires(),
		Description: desc,
		Nonce:       append([]byte(nil), m.Nonce[:]...),
	}
}

// pcpMapping rebuilds the PCP mapping a Mapping came from, nonce included.
func (b *pcpBackend) pcpMapping(m Mapping) (*pcp.Mapping, error) {
	var nonce pcp.Nonce
	if len(m.Nonce) != len(nonce) {
		return nil, fmt.Errorf("portmap: pcp: the mapping of %d/%s has no nonce; PCP renews and deletes only with the nonce that made it", m.External.Port(), m.Transport)
	}
	copy(nonce[:], m.Nonce)
	pm := &pcp.Mapping{
		Opcode:       pcp.OpMap,
		Protocol:     pcpProto(m.Transport),
		InternalAddr: m.Internal.Addr(),
		InternalPort: m.Internal.Port(),
		External:     m.External,
		Lifetime:     m.Lifetime,
		Nonce:        nonce,
		Server:       b.c.Server(),
	}
	if m.Internal.Addr() != b.local {
		pm.Options.ThirdParty = m.Internal.Addr()
	}
	return pm, nil
}

// refresh renews m; after a switch to NAT-PMP, a mapping made with PCP is
// renewed with NAT-PMP, asking for its external port.
func (b *pcpBackend) refresh(ctx context.Context, m Mapping, lifetime time.Duration) (Mapping, error) {
	return withFallback(&b.fallback,
		func() (Mapping, error) { return b.refreshPCP(ctx, m, lifetime) },
		func(nb *natpmpBackend) (Mapping, error) { return nb.refresh(ctx, m, lifetime) })
}

func (b *pcpBackend) refreshPCP(ctx context.Context, m Mapping, lifetime time.Duration) (Mapping, error) {
	pm, err := b.pcpMapping(m)
	if err != nil {
		return Mapping{}, err
	}
	nm, err := b.c.Renew(ctx, pm, lifetime)
	if err != nil {
		return Mapping{}, err
	}
	return b.mapping(m.Transport, nm, m.Description), nil
}

// remove deletes m; after a switch to NAT-PMP, with NAT-PMP. A mapping
// made with PCP then stays until its lifetime ends on gateways whose
// NAT-PMP deletes only NAT-PMP mappings (miniupnpd 2.3.1 looks for its
// "NAT-PMP" description), since the gateway no longer takes PCP.
func (b *pcpBackend) remove(ctx context.Context, m Mapping) error {
	_, err := withFallback(&b.fallback,
		func() (struct{}, error) { return struct{}{}, b.removePCP(ctx, m) },
		func(nb *natpmpBackend) (struct{}, error) { return struct{}{}, nb.remove(ctx, m) })
	return err
}

func (b *pcpBackend) removePCP(ctx context.Context, m Mapping) error {
	pm, err := b.pcpMapping(m)
	if err != nil {
		return err
	}
	return b.c.Delete(ctx, pm)
}

func (b *pcpBackend) list(context.Context) ([]Mapping, error) {
	return nil, &NotSupportedError{Protocol: b.protocol(), Operation: "list mappings"}
}

func (b *pcpBackend) dispatch(ev pcp.Event) {
	if fn := b.onEvent.Load(); fn != nil {
		(*fn)(ev)
	}
}

// watch listens for the server's ANNOUNCE messages and turns reboots seen
// in any reply or announcement into signals. After a switch to NAT-PMP it
// watches with NAT-PMP instead.
func (b *pcpBackend) watch(ctx context.Context, fn func(gatewaySignal)) {
	if nb := b.fallback.natpmp(); nb == nil {
		b.watchPCP(ctx, fn)
	}
	if nb := b.fallback.natpmp(); nb != nil && ctx.Err() == nil {
		nb.watch(ctx, fn)
	}
}

// watchPCP watches with PCP until ctx ends or the backend switches to
// NAT-PMP.
func (b *pcpBackend) watchPCP(ctx context.Context, fn func(gatewaySignal)) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	handler := func(ev pcp.Event) {
		if ev.Kind == pcp.EventReboot && ev.FromServer {
			fn(gatewaySignal{reboot: true, bootedAt: ev.Received})
		}
	}
	b.onEvent.Store(&handler)
	defer b.onEvent.Store(nil)
	// Announcements are a bonus: renewals and checks notice reboots too.
	// A test gateway on its own port is not listened for: joining the
	// multicast groups would reach the real network.
	if !b.testGW {
		go b.c.ListenAnnouncements(ctx)
	}
	select {
	case <-ctx.Done():
	case <-b.fallback.switched:
	}
}

// ping sends an ANNOUNCE: the reply's epoch reveals a reboot (reported
// through watch). After a switch, NAT-PMP's ping.
func (b *pcpBackend) ping(ctx context.Context) (gatewaySignal, error) {
	return withFallback(&b.fallback,
		func() (gatewaySignal, error) { _, err := b.c.Announce(ctx); return gatewaySignal{}, err },
		func(nb *natpmpBackend) (gatewaySignal, error) { return nb.ping(ctx) })
}
