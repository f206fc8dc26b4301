package portmaptest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/portmap-dev/portmap/upnp"
)

// TB is the part of testing.TB that NewGateway uses; *testing.T and
// *testing.B satisfy it. (Package portmaptest does not import testing, so
// that programs such as "portmap simulate" can use Start without it.)
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	Cleanup(func())
}

// Gateway is a running fake gateway. Its methods are safe for concurrent
// use.
type Gateway struct {
	cfg  Config
	udp  *net.UDPConn
	addr netip.AddrPort
	// uuids are the UDNs of the root device, the WANDevice and the
	// WANConnectionDevice.
	uuids [3]string

	closing   chan struct{}   // closed by Close
	ctx       context.Context // cancelled by Close: HTTP requests, GENA deliveries
	cancel    context.CancelFunc
	closeOnce sync.Once
	stopCtx   func() bool
	wg        sync.WaitGroup // goroutines started by the gateway
	notify    chan notifyJob // GENA events to deliver
	hc        *http.Client   // delivers GENA events
	// sendHook, set by tests before traffic starts, receives UDP packets
	// instead of the socket.
	sendHook func(to netip.AddrPort, pkt []byte)

	mu         sync.Mutex
	closed     bool
	table      *table
	pinholes   *pinholeTable
	extIP      netip.Addr
	bootTime   time.Time     // gateway clock at the last (re)boot
	uptimeBase time.Duration // uptime claimed at bootTime
	bootID     int64
	updateID   uint32 // SystemUpdateID: bumped when the mapping table changes
	fwEnabled  bool
	fwInbound  bool
	requests   []Request
	faults     faults
	rng        *mrand.Rand
	web        *webServer
	subs       map[string]*subscription
	stats      counters
}

// counters are the WAN traffic totals reported by WANCommonInterfaceConfig:
// here, the gateway's own UDP traffic.
type counters struct {
	bytesIn, bytesOut, pktsIn, pktsOut uint64
}

// NewGateway starts a gateway for a test and closes it when the test ends
// (tb.Cleanup). It fails the test if the gateway cannot start.
func NewGateway(tb TB, opts ...Option) *Gateway {
	tb.Helper()
	var cfg Config
	for _, o := range opts {
		o(&cfg)
	}
	g, err := Start(context.Background(), cfg)
	if err != nil {
		tb.Fatalf("portmaptest: %v", err)
		return nil
	}
	tb.Cleanup(func() { g.Close() })
	return g
}

// Start starts a gateway described by cfg. It runs until Close is called
// or ctx ends.
func Start(ctx context.Context, cfg Config) (*Gateway, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	gctx, cancel := context.WithCancel(context.Background())
	g := &Gateway{
		cfg:        cfg,
		closing:    make(chan struct{}),
		ctx:        gctx,
		cancel:     cancel,
		notify:     make(chan notifyJob, 256),
		table:      newTable(cfg.MinPort, cfg.MaxPort, cfg.MaxMappings),
		pinholes:   newPinholeTable(cfg.MaxMappings),
		extIP:      cfg.ExternalIP,
		bootTime:   cfg.Clock.Now(),
		uptimeBase: cfg.Uptime,
		bootID:     cfg.BootID,
		updateID:   1,
		fwEnabled:  true,
		fwInbound:  true,
		faults:     faults{next: make(map[string][]int), always: make(map[string]int)},
		rng:        mrand.New(mrand.NewPCG(cfg.Seed, 0x706f72746d6170)),
		subs:       make(map[string]*subscription),
		hc:         genaClient(),
	}
	for i := range g.uuids {
		g.uuids[i] = "uuid:" + newUUID()
	}
	if err := g.listen(); err != nil {
		cancel()
		return nil, err
	}
	g.wg.Go(g.serveUDP)
	g.wg.Go(g.deliverEvents)
	if g.web != nil {
		g.mu.Lock()
		g.web.start(g)
		g.mu.Unlock()
	}
	g.stopCtx = context.AfterFunc(ctx, func() { g.Close() })
	// A router announces its address when it starts (RFC 6886 §3.2.1,
	// RFC 6887 §14.1.1).
	g.announce(true)
	return g, nil
}

// newUUID returns a random (version 4) UUID in text form.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// listen opens the UDP socket and, for UPnP, the TCP listener on the same
// port number. With port 0 it retries when that TCP port is taken.
func (g *Gateway) listen() error {
	var lastErr error
	for range 20 {
		udp, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(g.cfg.Listen))
		if err != nil {
			return fmt.Errorf("portmaptest: %w", err)
		}
		ap := udp.LocalAddr().(*net.UDPAddr).AddrPort()
		ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
		if !g.cfg.serves(UPnP) {
			g.udp, g.addr = udp, ap
			return nil
		}
		ln, err := net.Listen("tcp", ap.String())
		if err == nil {
			g.udp, g.addr = udp, ap
			g.web = &webServer{ln: ln, addr: ap}
			return nil
		}
		udp.Close()
		lastErr = err
		if g.cfg.Listen.Port() != 0 {
			break
		}
	}
	return fmt.Errorf("portmaptest: %w", lastErr)
}

// Close stops the gateway: its sockets are closed and every goroutine it
// started has ended when Close returns. It is safe to call more than once.
func (g *Gateway) Close() error {
	g.closeOnce.Do(func() {
		if g.stopCtx != nil {
			g.stopCtx()
		}
		g.mu.Lock()
		g.closed = true
		web := g.web
		g.mu.Unlock()
		close(g.closing)
		g.cancel()
		g.udp.Close()
		if web != nil {
			web.close()
		}
		g.wg.Wait()
		g.hc.CloseIdleConnections()
	})
	return nil
}

// spawn runs f in a goroutine that Close waits for, unless the gateway is
// closed.
func (g *Gateway) spawn(f func()) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.closed {
		g.wg.Go(f)
	}
}

// sleep waits for d, or until the gateway closes; it reports whether the
// whole time passed.
func (g *Gateway) sleep(d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-g.closing:
		return false
	}
}

// Addr returns the gateway's UDP address (NAT-PMP, PCP, SSDP), which is
// also the address of its HTTP server until RebootNewHTTPPort.
func (g *Gateway) Addr() netip.AddrPort { return g.addr }

// GatewayFlag returns the value to give the portmap command's --gateway
// flag (and the root package's Options.Gateway and GatewayPort): "IP:PORT".
func (g *Gateway) GatewayFlag() string { return g.addr.String() }

// HTTPAddr returns the address of the HTTP server (description, SOAP,
// GENA); the zero value when UPnP is not served.
func (g *Gateway) HTTPAddr() netip.AddrPort {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.web == nil {
		return netip.AddrPort{}
	}
	return g.web.addr
}

// Location returns the device description URL that SSDP replies carry
// ("" when UPnP is not served).
func (g *Gateway) Location() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.locationLocked()
}

func (g *Gateway) locationLocked() string {
	if g.web == nil {
		return ""
	}
	return "http://" + g.web.addr.String() + descPath
}

// DiscoverOptions returns the options that make upnp.Discover find this
// gateway: a unicast search to its address and port, no multicast.
func (g *Gateway) DiscoverOptions() upnp.DiscoverOptions {
	return upnp.DiscoverOptions{Gateway: g.addr.Addr(), SSDPPort: g.addr.Port(), NoMulticast: true}
}

// Config returns the gateway's configuration, defaults applied.
func (g *Gateway) Config() Config { return g.cfg }

func (g *Gateway) now() time.Time { return g.cfg.Clock.Now() }

// epochLocked returns the NAT-PMP/PCP epoch: seconds since the mapping
// state began (RFC 6886 §3.6, RFC 6887 §8.5).
func (g *Gateway) epochLocked(now time.Time) uint32 {
	return uint32(g.uptimeLocked(now) / time.Second)
}

func (g *Gateway) uptimeLocked(now time.Time) time.Duration {
	return max(g.uptimeBase+now.Sub(g.bootTime), 0)
}

// Epoch returns the gateway's current epoch (seconds since start of
// epoch).
func (g *Gateway) Epoch() uint32 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.epochLocked(g.now())
}

// BootID returns the current BOOTID.UPNP.ORG.
func (g *Gateway) BootID() int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.bootID
}

// ExternalIP returns the external address (the zero value if none).
func (g *Gateway) ExternalIP() netip.Addr {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.extIP
}

// tickLocked applies expiry at now.
func (g *Gateway) tickLocked(now time.Time) {
	if g.table.expire(now) {
		g.changedLocked(svcIPConn)
	}
	g.pinholes.expire(now)
}

// Mappings returns a copy of the mapping table, sorted by transport and
// external port.
func (g *Gateway) Mappings() []Mapping {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.tickLocked(g.now())
	return g.table.snapshot()
}

// AddMapping puts m into the table as if a client had made it, e.g. a
// mapping of another host that the client under test must then run into
// (718). Transport must be TCP or UDP and the external port free; a zero
// Protocol means UPnP, a zero Created now, and a zero Expires is computed
// from Lifetime.
func (g *Gateway) AddMapping(m Mapping) error {
	t, err := normTransport(m.Transport)
	if err != nil {
		return err
	}
	m.Transport = t
	if m.ExternalPort == 0 || !m.InternalAddr.IsValid() {
		return errors.New("portmaptest: AddMapping needs an external port and an internal address")
	}
	m.InternalAddr = m.InternalAddr.Unmap()
	if m.Protocol == "" {
		m.Protocol = UPnP
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	g.tickLocked(now)
	if m.Created.IsZero() {
		m.Created = now
	}
	if m.Expires.IsZero() {
		m.Expires = expiry(now, m.Lifetime)
	}
	e := &entry{Mapping: m}
	if m.Peer {
		return g.table.putPeer(e)
	}
	if g.table.get(t, m.ExternalPort) != nil {
		return fmt.Errorf("portmaptest: %d/%s is already mapped", m.ExternalPort, t)
	}
	if err := g.table.put(e); err != nil {
		return err
	}
	g.changedLocked(svcIPConn)
	return nil
}

// Pinholes returns a copy of the pinhole table, sorted by ID.
func (g *Gateway) Pinholes() []Pinhole {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.tickLocked(g.now())
	return g.pinholes.snapshot()
}

// SetPinholePackets sets the packet count of pinhole id (as if traffic had
// passed through it) and reports whether the pinhole exists.
func (g *Gateway) SetPinholePackets(id uint16, n uint32) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	p := g.pinholes.byID[id]
	if p != nil {
		p.Packets = n
	}
	return p != nil
}

// SetFirewallStatus sets what GetFirewallStatus reports. With the firewall
// disabled AddPinhole fails with 702 FirewallDisabled; with inbound
// pinholes not allowed, with 703 InboundPinholeNotAllowed.
func (g *Gateway) SetFirewallStatus(enabled, inboundAllowed bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.fwEnabled != enabled || g.fwInbound != inboundAllowed {
		g.fwEnabled, g.fwInbound = enabled, inboundAllowed
		g.changedLocked(svcFirewall)
	}
}

// SetExternalIP changes the external address; the zero Addr means none
// (the WAN is down: GetExternalIPAddress answers "", GetStatusInfo
// "Disconnected", NAT-PMP and PCP mapping requests NETWORK_FAILURE). A
// private address models double NAT. A change is announced: NAT-PMP
// announcements to Config.AnnounceAddrs, an unsolicited PCP MAP response to
// the client of every PCP mapping (RFC 6887 §14.2), and a GENA event to
// WANIPConnection subscribers. It panics if a is an IPv6 address.
func (g *Gateway) SetExternalIP(a netip.Addr) {
	a = a.Unmap()
	if a.IsValid() && !a.Is4() {
		panic("portmaptest: SetExternalIP: " + a.String() + " is not IPv4")
	}
	g.mu.Lock()
	if g.extIP == a {
		g.mu.Unlock()
		return
	}
	g.extIP = a
	g.changedLocked(svcIPConn)
	g.changedLocked(svcCommon)
	g.mu.Unlock()
	g.announce(false)
}

// Reboot simulates a router reboot: the epoch restarts from 0, BOOTID
// goes up by one, the uptime restarts, and every mapping, pinhole and GENA
// subscription is forgotten. Announcements are sent to
// Config.AnnounceAddrs (NAT-PMP address announcement, PCP ANNOUNCE).
// Failures, delay and captured requests are test knobs and stay.
func (g *Gateway) Reboot() {
	g.mu.Lock()
	g.rebootLocked()
	g.mu.Unlock()
	g.announce(true)
}

// RebootNewHTTPPort reboots (see Reboot) and moves the HTTP server to a
// new port, as some routers do (DESIGN.md field reports: the GENA/HTTP port
// changes after a reboot). SSDP, NAT-PMP and PCP stay on Addr; the old HTTP
// port stops answering, so a client must search again to find the new
// description URL.
func (g *Gateway) RebootNewHTTPPort() error {
	g.mu.Lock()
	if g.web == nil || g.closed {
		g.mu.Unlock()
		return errors.New("portmaptest: no HTTP server (UPnP not served, or closed)")
	}
	ln, err := net.Listen("tcp", netip.AddrPortFrom(g.addr.Addr(), 0).String())
	if err != nil {
		g.mu.Unlock()
		return fmt.Errorf("portmaptest: %w", err)
	}
	old := g.web
	ap := ln.Addr().(*net.TCPAddr).AddrPort()
	g.web = &webServer{ln: ln, addr: netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())}
	g.web.start(g)
	g.rebootLocked()
	g.mu.Unlock()
	old.close()
	g.announce(true)
	return nil
}

func (g *Gateway) rebootLocked() {
	g.bootTime = g.now()
	g.uptimeBase = 0
	g.bootID++
	g.table.clear()
	g.pinholes.clear()
	clear(g.subs)
}
