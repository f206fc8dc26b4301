package portmap

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"
)

// ListenConfig makes listeners whose port is mapped on the gateway for as
// long as they are open. The zero value uses the default gateway, the best
// protocol, the same external port as the local one where it is free, and
// DefaultLifetime renewed by a [Keeper].
type ListenConfig struct {
	// Options find the gateway.
	Options Options
	// Lifetime is the lease asked for (renewed while open); zero means
	// DefaultLifetime.
	Lifetime time.Duration
	// Description is shown in the router's table (UPnP).
	Description string
	// ExternalPort, if not zero, is the external port wanted.
	ExternalPort uint16
	// Keeper tunes renewal and restoration; its OnEvent sees the mapping's
	// events.
	Keeper KeeperOptions
}

// Listener is a TCP listener whose port is reachable from the internet
// through the gateway while it is open.
type Listener struct {
	net.Listener
	*mapped
}

// PacketConn is a UDP socket whose port is reachable from the internet
// through the gateway while it is open.
type PacketConn struct {
	net.PacketConn
	*mapped
}

// mapped is the mapping half of Listener and PacketConn.
type mapped struct {
	keeper *Keeper
	client *Client
	stop   context.CancelFunc
	once   sync.Once
}

// ExternalAddr is the address and port to give to peers on the internet.
// It follows the mapping when the keeper restores it on another address.
func (m *mapped) ExternalAddr() netip.AddrPort {
	if ms := m.keeper.Mappings(); len(ms) > 0 {
		return ms[0].External
	}
	return netip.AddrPort{}
}

// Mapping is the mapping as it is now.
func (m *mapped) Mapping() Mapping {
	if ms := m.keeper.Mappings(); len(ms) > 0 {
		return ms[0]
	}
	return Mapping{}
}

// unmap stops the keeper, which deletes the mapping, and waits for it.
func (m *mapped) unmap() {
	m.once.Do(func() {
		m.stop()
		<-m.keeper.Done()
		m.client.Close()
	})
}

// Close closes the listener and deletes its mapping.
func (l *Listener) Close() error {
	err := l.Listener.Close()
	l.unmap()
	return err
}

// Close closes the socket and deletes its mapping.
func (p *PacketConn) Close() error {
	err := p.PacketConn.Close()
	p.unmap()
	return err
}

// Listen listens on the local network address (network "tcp", "tcp4") and
// maps its port on the default gateway until the listener is closed.
func Listen(ctx context.Context, network, address string) (*Listener, error) {
	var lc ListenConfig
	return lc.Listen(ctx, network, address)
}

// ListenPacket is Listen for UDP (network "udp", "udp4").
func ListenPacket(ctx context.Context, network, address string) (*PacketConn, error) {
	var lc ListenConfig
	return lc.ListenPacket(ctx, network, address)
}

// Listen listens on the local network address and maps its port until
// the listener is closed. ctx bounds the listening and the first mapping
// only.
func (lc *ListenConfig) Listen(ctx context.Context, network, address string) (*Listener, error) {
	if network != "tcp" && network != "tcp4" {
		return nil, fmt.Errorf("portmap: Listen: network %q: want tcp or tcp4 (IPv6 needs a pinhole, not a mapping)", network)
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, network, address)
	if err != nil {
		return nil, err
	}
	m, err := lc.mapPort(ctx, TCP, ln.Addr())
	if err != nil {
		ln.Close()
		return nil, err
	}
	return &Listener{Listener: ln, mapped: m}, nil
}

// ListenPacket listens on the local UDP address and maps its port until
// the socket is closed.
func (lc *ListenConfig) ListenPacket(ctx context.Context, network, address string) (*PacketConn, error) {
	if network != "udp" && network != "udp4" {
		return nil, fmt.Errorf("portmap: ListenPacket: network %q: want udp or udp4", network)
	}
	pc, err := (&net.ListenConfig{}).ListenPacket(ctx, network, address)
	if err != nil {
		return nil, err
	}
	m, err := lc.mapPort(ctx, UDP, pc.LocalAddr())
	if err != nil {
		pc.Close()
		return nil, err
	}
	return &PacketConn{PacketConn: pc, mapped: m}, nil
}

// mapPort discovers the gateway and keeps a mapping of the socket's port.
func (lc *ListenConfig) mapPort(ctx context.Context, tr Transport, local net.Addr) (*mapped, error) {
	ap, err := netip.ParseAddrPort(local.String())
	if err != nil {
		return nil, fmt.Errorf("portmap: local address %s: %w", local, err)
	}
	c, err := Discover(ctx, lc.Options)
	if err != nil {
		return nil, err
	}
	req := Request{
		Transport:    tr,
		InternalPort: ap.Port(),
		ExternalPort: lc.ExternalPort,
		Lifetime:     lc.Lifetime,
		Description:  lc.Description,
	}
	if a := ap.Addr().Unmap(); a.IsValid() && !a.IsUnspecified() && !a.IsLoopback() && a != c.LocalAddr() {
		// Bound to one address: map to that one (it must be this host's).
		req.InternalIP = a
	}
	kopts := lc.Keeper
	kopts.Discovery = lc.Options
	k := NewKeeper(c, kopts)
	if _, err := k.Add(ctx, req); err != nil {
		c.Close()
		return nil, err
	}
	kctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	go k.Run(kctx)
	return &mapped{keeper: k, client: c, stop: stop}, nil
}
