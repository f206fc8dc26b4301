package pcp

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"
)

// ErrUnreachable means the server's host answered with ICMP port
// unreachable: nothing listens for PCP there. Calls end at once with it.
var ErrUnreachable = errors.New("pcp: server port unreachable (nothing listens for PCP there)")

// Client talks PCP to one server. It is safe for concurrent use: requests
// may be outstanding together, each matched to its response by opcode,
// nonce, protocol and internal port (and remote peer for PEER).
type Client struct {
	server     netip.AddrPort
	clientAddr netip.Addr
	conn       *net.UDPConn
	cfg        config

	mu      sync.Mutex
	closed  bool
	calls   map[*call]struct{}
	epochs  map[netip.Addr]*EpochState
	holds   holdTable
	recent  [32]recentReply
	nrecent int
	// lateAnnounces counts answers still expected to retransmitted
	// ANNOUNCE requests that were already answered.
	lateAnnounces int
	// checking: a server check (see checkServer) is under way.
	checking bool
	stats    Stats

	events chan Event
	done   chan struct{}
	wg     sync.WaitGroup
}

// Stats counts the client's traffic.
type Stats struct {
	Requests        uint64 // calls that sent a request
	Transmissions   uint64 // request packets sent, retransmissions included
	Responses       uint64 // valid responses received from the server
	Dropped         uint64 // packets dropped: wrong source, malformed, unmatched duplicates
	Reboots         uint64 // epoch validation failures
	Events          uint64 // events queued for the handler
	EventsDropped   uint64 // events dropped because the queue was full
	HeldDown        uint64 // calls refused because of an error hold-down
	UnsolicitedMaps uint64 // unsolicited MAP/PEER responses
	// ServerChecks counts the ANNOUNCE requests sent to the server because
	// an IPv6 link-local neighbour on its link multicast a message (see
	// [Event].FromServer).
	ServerChecks uint64
}

type recentReply struct {
	nonce  Nonce
	result ResultCode
	ext    netip.AddrPort
}

// reply is what the reader hands to a waiting call.
type reply struct {
	resp     *Response
	rebooted bool
	at       time.Time
	err      error
}

type call struct {
	req *Request
	ch  chan reply // capacity 1; the first match wins
	// Guarded by Client.mu:
	sent     int  // transmissions so far
	answered bool // a reply was handed over
}

// NewClient returns a client for the PCP server at server (port 0 means
// [ServerPort], 5351). It opens a UDP socket connected to the server; the
// socket's local address is sent as the PCP Client's IP Address (see
// [WithClientAddr]). Close the client when done.
func NewClient(server netip.AddrPort, opts ...Option) (*Client, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	if !server.Addr().IsValid() {
		return nil, fmt.Errorf("%w: no server address", ErrInvalidRequest)
	}
	if server.Port() == 0 {
		server = netip.AddrPortFrom(server.Addr(), ServerPort)
	}
	server = netip.AddrPortFrom(server.Addr().Unmap(), server.Port())
	var laddr *net.UDPAddr
	if cfg.localAddr.IsValid() {
		laddr = net.UDPAddrFromAddrPort(netip.AddrPortFrom(cfg.localAddr, 0))
	}
	network := "udp4"
	if server.Addr().Is6() {
		network = "udp6"
	}
	conn, err := net.DialUDP(network, laddr, net.UDPAddrFromAddrPort(server))
	if err != nil {
		return nil, fmt.Errorf("pcp: %w", err)
	}
	c := &Client{
		server: server,
		conn:   conn,
		cfg:    cfg,
		calls:  make(map[*call]struct{}),
		epochs: make(map[netip.Addr]*EpochState),
		holds:  make(holdTable),
		done:   make(chan struct{}),
	}
	c.clientAddr = cfg.clientAddr
	if !c.clientAddr.IsValid() {
		c.clientAddr = conn.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap().WithZone("")
	}
	if cfg.onEvent != nil {
		c.events = make(chan Event, 64)
		c.wg.Add(1)
		go c.dispatch()
	}
	c.wg.Add(1)
	go c.readLoop()
	return c, nil
}

// Server returns the server's address and port.
func (c *Client) Server() netip.AddrPort { return c.server }

// ClientAddr returns the address sent in the PCP Client's IP Address field.
func (c *Client) ClientAddr() netip.Addr { return c.clientAddr }

// LocalAddr returns the client socket's local address and port.
func (c *Client) LocalAddr() netip.AddrPort {
	return c.conn.LocalAddr().(*net.UDPAddr).AddrPort()
}

// Stats returns a snapshot of the client's counters.
func (c *Client) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}

// Close closes the socket, ends outstanding calls with [ErrClosed], stops
// [Client.ListenAnnouncements] and waits for the client's goroutines.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	close(c.done)
	c.mu.Unlock()
	err := c.conn.Close()
	c.wg.Wait()
	return err
}

// logDebug logs at debug level if a logger was configured.
func (c *Client) logDebug(msg string, args ...any) {
	if c.cfg.logger != nil {
		c.cfg.logger.Debug(msg, args...)
	}
}
