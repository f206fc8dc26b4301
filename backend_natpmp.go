package portmap

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/portmap-dev/portmap/natpmp"
)

// natpmpInitialTimeout is RFC 6886's first retransmission timeout, set
// explicitly because Discover depends on it being short for a quick answer
// when packets are lost.
const natpmpInitialTimeout = 250 * time.Millisecond

// natpmpBackend maps with NAT-PMP.
type natpmpBackend struct {
	c      *natpmp.Client
	gw     netip.Addr
	local  netip.Addr
	testGW bool // a test gateway on its own port: no multicast

	mu       sync.Mutex
	external netip.Addr
}

// newNATPMPBackend opens a NAT-PMP client of t's gateway.
func newNATPMPBackend(t *target) (*natpmpBackend, error) {
	c, err := natpmp.NewClient(netip.AddrPortFrom(t.gateway, t.serverPort(natpmp.Port)),
		natpmp.WithInitialTimeout(natpmpInitialTimeout), natpmp.WithLocalAddr(t.local), natpmp.WithLogger(t.opts.logger()))
	if err != nil {
		return nil, err
	}
	return &natpmpBackend{c: c, gw: t.gateway, local: t.local, testGW: t.port != 0}, nil
}

func probeNATPMP(ctx context.Context, t *target) probeResult {
	b, err := newNATPMPBackend(t)
	if err != nil {
		return probeResult{info: ProbeResult{Err: err}}
	}
	ext, err := b.c.ExternalAddress(ctx)
	if err != nil {
		return probeResult{b: b, info: ProbeResult{Err: err}}
	}
	b.external = ext.Addr
	return probeResult{b: b, info: ProbeResult{Version: "NAT-PMP", ExternalIP: ext.Addr}}
}

func (b *natpmpBackend) protocol() Protocol { return NATPMP }
func (b *natpmpBackend) close() error       { return b.c.Close() }

func (b *natpmpBackend) externalIP(ctx context.Context) (netip.Addr, error) {
	ext, err := b.c.ExternalAddress(ctx)
	if err != nil {
		return netip.Addr{}, err
	}
	b.mu.Lock()
	b.external = ext.Addr
	b.mu.Unlock()
	return ext.Addr, nil
}

// knownExternal returns the last external address learnt, asking for it
// if none is known yet.
func (b *natpmpBackend) knownExternal(ctx context.Context) (netip.Addr, error) {
	b.mu.Lock()
	ext := b.external
	b.mu.Unlock()
	if ext.IsValid() {
		return ext, nil
	}
	return b.externalIP(ctx)
}

func natpmpProto(t Transport) natpmp.Protocol {
	if t == UDP {
		return natpmp.UDP
	}
	return natpmp.TCP
}

func (b *natpmpBackend) add(ctx context.Context, req Request) (Mapping, error) {
	if req.InternalIP != b.local {
		return Mapping{}, fmt.Errorf("portmap: natpmp maps only to the host that asks (%s), not to %s: use --via upnp or pcp", b.local, req.InternalIP)
	}
	m, err := b.c.Map(ctx, natpmpProto(req.Transport), req.InternalPort, req.ExternalPort, req.Lifetime)
	if err != nil {
		return Mapping{}, err
	}
	return b.mapping(ctx, req.Transport, m, req.Description)
}

func (b *natpmpBackend) mapping(ctx context.Context, tr Transport, m natpmp.Mapping, desc string) (Mapping, error) {
	ext, err := b.knownExternal(ctx)
	if err != nil {
		return Mapping{}, err
	}
	out := Mapping{
		Protocol:    NATPMP,
		Gateway:     b.gw,
		Transport:   tr,
		External:    netip.AddrPortFrom(ext, m.ExternalPort),
		Internal:    netip.AddrPortFrom(b.local, m.InternalPort),
		Lifetime:    m.Lifetime,
		Description: desc,
	}
	if m.Lifetime > 0 {
		out.Expires = time.Now().Add(m.Lifetime)
	}
	return out, nil
}

func (b *natpmpBackend) refresh(ctx context.Context, m Mapping, lifetime time.Duration) (Mapping, error) {
	nm, err := b.c.Renew(ctx, natpmp.Mapping{
		Protocol:     natpmpProto(m.Transport),
		InternalPort: m.Internal.Port(),
		ExternalPort: m.External.Port(),
		Lifetime:     m.Lifetime,
	}, lifetime)
	if err != nil {
		return Mapping{}, err
	}
	return b.mapping(ctx, m.Transport, nm, m.Description)
}

func (b *natpmpBackend) remove(ctx context.Context, m Mapping) error {
	return b.c.Delete(ctx, natpmpProto(m.Transport), m.Internal.Port())
}

func (b *natpmpBackend) list(context.Context) ([]Mapping, error) {
	return nil, &NotSupportedError{Protocol: NATPMP, Operation: "list mappings"}
}

// watch listens for the gateway's announcements and turns the client's
// events (epoch going backwards, new external address) into signals.
func (b *natpmpBackend) watch(ctx context.Context, fn func(gatewaySignal)) {
	// Announcements are a bonus: without them (another program holds the
	// port without SO_REUSEPORT, say) renewals and checks still notice. A
	// test gateway on its own port is not listened for: joining the
	// multicast group would reach the real network.
	if !b.testGW {
		go b.c.ListenAnnouncements(ctx)
	}
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-b.c.Events():
			if !ok {
				return
			}
			if ev.AddressChanged {
				b.mu.Lock()
				b.external = ev.ExternalAddr
				b.mu.Unlock()
			}
			fn(gatewaySignal{
				reboot:         ev.Reboot,
				bootedAt:       time.Now(),
				addressChanged: ev.AddressChanged,
				external:       ev.ExternalAddr,
			})
		}
	}
}

// ping asks for the external address: the reply's epoch reveals a reboot
// (reported through watch).
func (b *natpmpBackend) ping(ctx context.Context) (gatewaySignal, error) {
	_, err := b.externalIP(ctx)
	return gatewaySignal{}, err
}
