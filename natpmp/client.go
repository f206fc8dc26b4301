package natpmp

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
)

// packetConn is the client's socket; *net.UDPConn (connected to the
// gateway) implements it.
type packetConn interface {
	ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error)
	Write(b []byte) (int, error)
	Close() error
}

// Client talks NAT-PMP to one gateway. It is safe for concurrent use; its
// requests, and those of any other Client of the same gateway in this
// process, are sent one at a time in the order of the calls.
type Client struct {
	gw      netip.AddrPort
	cfg     *config
	conn    packetConn
	queue   *fifo
	release func()

	replies chan packet
	done    chan struct{}
	readers sync.WaitGroup // the reader goroutine and announcement listener

	mu        sync.Mutex
	closed    bool
	calls     sync.WaitGroup // calls in flight
	granted   map[mapKey]grant
	external  netip.Addr // last external address learnt
	announcer *Listener

	epoch EpochTracker

	evMu     sync.Mutex
	evClosed bool
	events   chan Event
}

// packet is what the reader goroutine hands to the waiting request.
type packet struct {
	resp Response
	err  error // ErrNotSupported on ICMP port unreachable
}

type mapKey struct {
	proto Protocol
	port  uint16
}

type grant struct {
	asked, granted uint16
}

// NewClient returns a client for the NAT-PMP gateway gw. A zero port means
// [Port] (5351). It opens a UDP socket connected to the gateway but sends
// nothing. Close the client when done.
func NewClient(gw netip.AddrPort, opts ...Option) (*Client, error) {
	if !gw.Addr().IsValid() {
		return nil, fmt.Errorf("natpmp: invalid gateway address %v", gw)
	}
	gw = netip.AddrPortFrom(gw.Addr().Unmap(), gw.Port())
	if gw.Port() == 0 {
		gw = netip.AddrPortFrom(gw.Addr(), Port)
	}
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	conn := cfg.conn
	if conn == nil {
		var laddr *net.UDPAddr
		if cfg.localAddr.IsValid() {
			laddr = net.UDPAddrFromAddrPort(netip.AddrPortFrom(cfg.localAddr.Unmap(), 0))
		}
		network := "udp4"
		if gw.Addr().Is6() {
			network = "udp6"
		}
		// A connected socket: the kernel drops datagrams from other
		// sources and reports ICMP port unreachable as ECONNREFUSED.
		uc, err := net.DialUDP(network, laddr, net.UDPAddrFromAddrPort(gw))
		if err != nil {
			return nil, fmt.Errorf("natpmp: %w", err)
		}
		reportPortUnreachable(uc)
		conn = uc
	}
	q, release := acquireQueue(gw)
	c := &Client{
		gw:      gw,
		cfg:     cfg,
		conn:    conn,
		queue:   q,
		release: release,
		replies: make(chan packet, 16),
		done:    make(chan struct{}),
		granted: make(map[mapKey]grant),
		events:  make(chan Event, 1),
	}
	c.readers.Add(1)
	go c.readLoop()
	return c, nil
}

// Gateway returns the gateway's address and port.
func (c *Client) Gateway() netip.AddrPort { return c.gw }

// Events returns a channel of [Event]: gateway reboots and external address
// changes. It holds one event; events not yet received are merged (a
// pending reboot is never lost). It is closed by [Client.Close].
func (c *Client) Events() <-chan Event { return c.events }

// Close stops the client: calls in flight return [ErrClosed], the socket
// and the announcement listener are closed and [Client.Events] is closed.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	ann := c.announcer
	c.mu.Unlock()

	close(c.done)
	err := c.conn.Close()
	if ann != nil {
		ann.Close()
	}
	c.calls.Wait()
	c.readers.Wait()
	c.release()

	c.evMu.Lock()
	c.evClosed = true
	close(c.events)
	c.evMu.Unlock()
	return err
}

// emit queues ev on the events channel, merging it with an unread one.
func (c *Client) emit(ev Event) {
	c.evMu.Lock()
	defer c.evMu.Unlock()
	if c.evClosed {
		return
	}
	select {
	case old := <-c.events:
		ev = ev.merge(old)
	default:
	}
	select {
	case c.events <- ev:
	default:
	}
}

func (c *Client) log(msg string, args ...any) {
	if c.cfg.logger != nil {
		c.cfg.logger.Debug(msg, append([]any{slog.String("gateway", c.gw.String())}, args...)...)
	}
}

// enter registers a call in flight, or fails if the client is closed.
func (c *Client) enter() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	c.calls.Add(1)
	return nil
}
