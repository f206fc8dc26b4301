package upnp

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
)

// NotifyOptions configure ListenNotify.
type NotifyOptions struct {
	// Group is the multicast group and port to join; zero means
	// SSDPMulticast. A non-multicast address (tests) is simply bound.
	Group netip.AddrPort
	// Interface names the interface to join the group on; empty means the
	// system's choice.
	Interface string
	// Source, if valid, drops notifications from any other address (e.g.
	// everything but the gateway). SSDP is unauthenticated: this filters
	// noise from other UPnP devices, it does not stop a forger.
	Source netip.Addr
	// Buffer is the capacity of the Notifications channel; 0 means 32.
	// Notifications arriving while it is full are dropped: devices repeat
	// ssdp:alive (miniupnpd every 30 s, several copies each time).
	Buffer int
	// Logger receives debug logs; nil means no logging.
	Logger *slog.Logger
}

// NotifyListener receives SSDP NOTIFY messages (ssdp:alive, ssdp:byebye,
// ssdp:update). With a BootTracker it tells when a gateway rebooted:
// its BOOTID.UPNP.ORG changes, and with it its port mappings are gone.
type NotifyListener struct {
	conn   *net.UDPConn
	ch     chan *Notify
	source netip.Addr
	log    *slog.Logger
	wg     sync.WaitGroup
	once   sync.Once
}

// ListenNotify joins the SSDP multicast group and delivers every valid
// NOTIFY on Notifications until Close.
func ListenNotify(opts NotifyOptions) (*NotifyListener, error) {
	group := opts.Group
	if !group.IsValid() {
		group = SSDPMulticast
	}
	var ifi *net.Interface
	if opts.Interface != "" {
		var err error
		if ifi, err = net.InterfaceByName(opts.Interface); err != nil {
			return nil, fmt.Errorf("upnp: interface %q: %w", opts.Interface, err)
		}
	}
	network := "udp6"
	if group.Addr().Unmap().Is4() {
		network = "udp4"
	}
	ua := net.UDPAddrFromAddrPort(netip.AddrPortFrom(group.Addr().Unmap(), group.Port()))
	var c *net.UDPConn
	var err error
	if group.Addr().IsMulticast() {
		c, err = net.ListenMulticastUDP(network, ifi, ua)
	} else {
		c, err = net.ListenUDP(network, ua)
	}
	if err != nil {
		return nil, fmt.Errorf("upnp: listening for SSDP NOTIFY on %s: %w", group, err)
	}
	n := opts.Buffer
	if n <= 0 {
		n = 32
	}
	l := &NotifyListener{conn: c, ch: make(chan *Notify, n), source: opts.Source.Unmap().WithZone(""), log: opts.Logger}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	l.wg.Go(l.read)
	return l, nil
}

// Notifications returns the channel of received notifications; it is
// closed after Close.
func (l *NotifyListener) Notifications() <-chan *Notify { return l.ch }

// Addr returns the local address listened on.
func (l *NotifyListener) Addr() netip.AddrPort { return l.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

// Close stops listening and closes Notifications.
func (l *NotifyListener) Close() error {
	var err error
	l.once.Do(func() {
		err = l.conn.Close()
		l.wg.Wait()
		close(l.ch)
	})
	return err
}

func (l *NotifyListener) read() {
	buf := make([]byte, maxSSDPDatagram+1)
	for {
		n, from, err := l.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				l.log.Debug("upnp: SSDP NOTIFY read", "err", err)
			}
			return
		}
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		if n > maxSSDPDatagram || (l.source.IsValid() && from.Addr().WithZone("") != l.source) {
			continue
		}
		m, err := ParseNotify(buf[:n])
		if err != nil {
			// M-SEARCH requests of other control points share the group.
			continue
		}
		m.From = from
		select {
		case l.ch <- m:
		default:
			l.log.Debug("upnp: SSDP NOTIFY dropped, channel full", "from", from)
		}
	}
}

// BootTracker remembers the BOOTID.UPNP.ORG of each device (by UUID) and
// reports when it changes, which UDA 1.1 devices do on every boot: after
// that, port mappings made before are gone (miniupnpd keeps none across a
// restart) and must be restored. ssdp:update announces a new BOOTID that
// is not a reboot (the device changed networks) and is followed silently.
// It is safe for concurrent use.
type BootTracker struct {
	mu  sync.Mutex
	ids map[string]int64
}

// maxTrackedDevices bounds a BootTracker's memory.
const maxTrackedDevices = 256

// Observe records n and reports whether it shows that a device seen before
// has rebooted. byebye messages change nothing: a device that says goodbye
// and comes back with the same BOOTID (link flap) did not reboot.
func (t *BootTracker) Observe(n *Notify) bool {
	return t.observe(n.UUID(), n.NTS, n.BootID, n.NextBootID)
}

// ObserveResponse is Observe for an M-SEARCH reply.
func (t *BootTracker) ObserveResponse(r *SearchResponse) bool {
	return t.observe(r.UUID(), NTSAlive, r.BootID, -1)
}

func (t *BootTracker) observe(uuid, nts string, boot, next int64) bool {
	if uuid == "" || boot < 0 {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ids == nil {
		t.ids = make(map[string]int64)
	}
	prev, seen := t.ids[uuid]
	if !seen && len(t.ids) >= maxTrackedDevices {
		for k := range t.ids { // forget an arbitrary device
			delete(t.ids, k)
			break
		}
	}
	switch nts {
	case NTSByeBye:
		return false
	case NTSUpdate:
		if next >= 0 {
			t.ids[uuid] = next
		}
		return false
	}
	t.ids[uuid] = boot
	return seen && prev != boot
}
