package natpmp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/net/ipv4"
)

// Announcement is an unsolicited external address announcement: the packet
// a gateway multicasts to 224.0.0.1:5350 when it starts or its external
// address changes (RFC 6886 §3.2.1). It has the form of an external address
// reply.
type Announcement struct {
	Gateway      netip.Addr
	ExternalAddr netip.Addr
	Result       ResultCode
	Epoch        uint32
	// Reboot is set when the epoch ran backwards since the previous
	// announcement (or reply, with a shared tracker) of this gateway.
	Reboot bool
}

// Listener receives the announcements of one gateway.
type Listener struct {
	conn    net.PacketConn
	gateway netip.Addr
	port    uint16 // the gateway's NAT-PMP port, that announcements come from
	tracker *EpochTracker
	cfg     *config
	deliver func(Announcement, <-chan struct{}) // returns when delivered or stopped

	c         chan Announcement
	done      chan struct{}
	closeOnce sync.Once
	stopCtx   func() bool
	wg        sync.WaitGroup
}

// ListenAnnouncements starts receiving the announcements of gateway, on
// 224.0.0.1:5350 unless [WithAnnounceAddr] or [WithAnnounceConn] says
// otherwise. The socket is opened with SO_REUSEADDR and SO_REUSEPORT, so
// that several programs can listen at once. Packets from any other source
// than port 5351 of gateway (or the port given by [WithGatewayPort]) are
// dropped, and so are PCP announcements (version 2), which share the port.
//
// The listener stops when ctx ends or on [Listener.Close].
func ListenAnnouncements(ctx context.Context, gateway netip.Addr, opts ...Option) (*Listener, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	port := cfg.gatewayPort
	if port == 0 {
		port = Port
	}
	l, err := newListener(ctx, netip.AddrPortFrom(gateway, port), cfg)
	if err != nil {
		return nil, err
	}
	l.c = make(chan Announcement, 4)
	l.deliver = func(a Announcement, stop <-chan struct{}) {
		select {
		case l.c <- a:
		case <-stop:
		}
	}
	l.start(ctx)
	return l, nil
}

func newListener(ctx context.Context, gateway netip.AddrPort, cfg *config) (*Listener, error) {
	if !gateway.Addr().IsValid() {
		return nil, fmt.Errorf("natpmp: invalid gateway address %v", gateway)
	}
	conn := cfg.announceConn
	if conn == nil {
		var err error
		conn, err = listenAnnounce(ctx, cfg.announceAddr)
		if err != nil {
			return nil, err
		}
	}
	tracker := cfg.tracker
	if tracker == nil {
		tracker = new(EpochTracker)
	}
	return &Listener{
		conn:    conn,
		gateway: gateway.Addr().Unmap(),
		port:    gateway.Port(),
		tracker: tracker,
		cfg:     cfg,
		done:    make(chan struct{}),
	}, nil
}

func (l *Listener) start(ctx context.Context) {
	l.stopCtx = context.AfterFunc(ctx, func() { l.Close() })
	l.wg.Add(1)
	go l.loop()
}

// Announcements returns the channel of announcements. It is closed when the
// listener stops.
func (l *Listener) Announcements() <-chan Announcement { return l.c }

// Addr returns the local address the listener receives on.
func (l *Listener) Addr() net.Addr { return l.conn.LocalAddr() }

// Close stops the listener and closes its socket.
func (l *Listener) Close() error {
	var err error
	l.closeOnce.Do(func() {
		close(l.done)
		err = l.conn.Close()
		if l.stopCtx != nil {
			l.stopCtx()
		}
		l.wg.Wait()
		if l.c != nil {
			close(l.c)
		}
	})
	return err
}

func (l *Listener) log(msg string, args ...any) {
	if l.cfg.logger != nil {
		l.cfg.logger.Debug(msg, append([]any{slog.String("gateway", l.gateway.String())}, args...)...)
	}
}

func (l *Listener) loop() {
	defer l.wg.Done()
	buf := make([]byte, maxPacket)
	for {
		n, from, err := readFrom(l.conn, buf)
		if err != nil {
			select {
			case <-l.done:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// An error of a socket that stays open: pause a little so
			// that a persistent one cannot spin.
			l.log("natpmp: announcement receive error", slog.Any("error", err))
			select {
			case <-l.done:
				return
			case <-time.After(10 * time.Millisecond):
			}
			continue
		}
		// RFC 6886 §3.2.1: the gateway sends announcements from its port
		// 5351 (miniupnpd 2.3.1 does, from its NAT-PMP socket; see the e2e
		// test TestNATPMPAnnouncements). As with replies (§3.1), packets
		// from any other address or port are dropped.
		if from.Addr().Unmap() != l.gateway || from.Port() != l.port {
			l.log("natpmp: dropped announcement from another source", slog.String("from", from.String()))
			continue
		}
		resp, err := ParseResponse(buf[:n])
		if err != nil || resp.Op != OpReply|OpExternalAddress || resp.Short {
			l.log("natpmp: dropped packet on announcement port", slog.Int("bytes", n))
			continue
		}
		a := Announcement{
			Gateway:      l.gateway,
			ExternalAddr: resp.ExternalAddr,
			Result:       resp.Result,
			Epoch:        resp.Epoch,
			Reboot:       l.tracker.Observe(resp.Epoch, l.cfg.clock.Now()),
		}
		l.log("natpmp: announcement", slog.String("external", a.ExternalAddr.String()),
			slog.Uint64("epoch", uint64(a.Epoch)), slog.Bool("reboot", a.Reboot))
		l.deliver(a, l.done)
	}
}

// readFrom reads one datagram and its source from any PacketConn.
func readFrom(pc net.PacketConn, b []byte) (int, netip.AddrPort, error) {
	if uc, ok := pc.(*net.UDPConn); ok {
		return uc.ReadFromUDPAddrPort(b)
	}
	n, addr, err := pc.ReadFrom(b)
	if err != nil {
		return n, netip.AddrPort{}, err
	}
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return n, netip.AddrPort{}, fmt.Errorf("natpmp: unexpected source address type %T", addr)
	}
	return n, ua.AddrPort(), nil
}

// listenAnnounce opens the announcement socket: bound to the group (where
// the system allows it) with address and port reuse, and joined to the
// group on every multicast interface.
func listenAnnounce(ctx context.Context, group netip.AddrPort) (net.PacketConn, error) {
	lc := net.ListenConfig{Control: reuseControl}
	bind := group
	multicast := group.Addr().IsMulticast()
	if multicast && !canBindGroup {
		bind = netip.AddrPortFrom(netip.IPv4Unspecified(), group.Port())
	}
	pc, err := lc.ListenPacket(ctx, "udp4", bind.String())
	if err != nil {
		return nil, fmt.Errorf("natpmp: listen for announcements: %w", err)
	}
	if !multicast {
		return pc, nil
	}
	p := ipv4.NewPacketConn(pc)
	gaddr := &net.UDPAddr{IP: group.Addr().AsSlice()}
	ifs, _ := net.Interfaces()
	joined := 0
	var joinErr error
	for i := range ifs {
		ifi := &ifs[i]
		if ifi.Flags&net.FlagUp == 0 || ifi.Flags&net.FlagMulticast == 0 {
			continue
		}
		if err := p.JoinGroup(ifi, gaddr); err != nil {
			joinErr = err
			continue
		}
		joined++
	}
	// Every host is a member of 224.0.0.1 on every multicast interface
	// anyway (RFC 1112), so failing to join it is not fatal.
	if joined == 0 && group.Addr() != AnnounceGroup.Addr() {
		pc.Close()
		return nil, fmt.Errorf("natpmp: join %v: %w", group.Addr(), joinErr)
	}
	return pc, nil
}
