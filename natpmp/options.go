package natpmp

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"
)

// Default values (RFC 6886).
const (
	// Port is the gateway's NAT-PMP port.
	Port = 5351
	// AnnouncePort is the port gateways send announcements to.
	AnnouncePort = 5350
	// DefaultInitialTimeout is the wait before the first retransmission;
	// it doubles after each try (RFC 6886 §3.1).
	DefaultInitialTimeout = 250 * time.Millisecond
	// DefaultMaxAttempts is the number of tries before giving up (RFC 6886
	// §3.1); with the default initial timeout they span about 128 s.
	DefaultMaxAttempts = 9
)

// AnnounceGroup is the all-hosts multicast group and port that gateways send
// their external address announcements to (RFC 6886 §3.2.1).
var AnnounceGroup = netip.AddrPortFrom(netip.AddrFrom4([4]byte{224, 0, 0, 1}), AnnouncePort)

// An Option configures a [Client] or a [Listener]. Options that do not
// concern the one being built are ignored.
type Option func(*config) error

type config struct {
	initialTimeout time.Duration
	maxAttempts    int
	logger         *slog.Logger
	localAddr      netip.Addr
	announceAddr   netip.AddrPort
	announceConn   net.PacketConn
	tracker        *EpochTracker
	clock          clock
	conn           packetConn // test hook: replaces the client's socket
	gatewayPort    uint16     // source port of announcements (0: Port)
}

func newConfig(opts []Option) (*config, error) {
	c := &config{
		initialTimeout: DefaultInitialTimeout,
		maxAttempts:    DefaultMaxAttempts,
		announceAddr:   AnnounceGroup,
		clock:          realClock{},
	}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(c); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// WithInitialTimeout sets the wait before the first retransmission
// (default 250 ms, as RFC 6886 §3.1 says). It doubles after each try.
func WithInitialTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("natpmp: initial timeout %v is not positive", d)
		}
		c.initialTimeout = d
		return nil
	}
}

// WithMaxAttempts sets how many times a request is sent before the call
// fails with [ErrTimeout] (default 9, as RFC 6886 §3.1 says). Whatever the
// number, the call's context can end it earlier.
func WithMaxAttempts(n int) Option {
	return func(c *config) error {
		if n < 1 {
			return fmt.Errorf("natpmp: max attempts %d is less than 1", n)
		}
		c.maxAttempts = n
		return nil
	}
}

// WithLogger logs every request, reply and dropped packet at debug level.
// By default nothing is logged.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		c.logger = l
		return nil
	}
}

// WithLocalAddr makes the client send from this local address (for example
// the address of a chosen interface). By default the system picks it.
func WithLocalAddr(a netip.Addr) Option {
	return func(c *config) error {
		c.localAddr = a
		return nil
	}
}

// WithAnnounceAddr sets where announcements are received (default
// [AnnounceGroup], 224.0.0.1:5350). A unicast address, such as
// 127.0.0.1:0 in tests, is bound without joining a group.
func WithAnnounceAddr(ap netip.AddrPort) Option {
	return func(c *config) error {
		if !ap.Addr().IsValid() {
			return fmt.Errorf("natpmp: invalid announcement address %v", ap)
		}
		c.announceAddr = ap
		return nil
	}
}

// WithAnnounceConn receives announcements on an already open socket instead
// of opening one. The listener closes it when it stops.
func WithAnnounceConn(pc net.PacketConn) Option {
	return func(c *config) error {
		c.announceConn = pc
		return nil
	}
}

// WithEpochTracker makes a [Listener] check epochs with t, for instance one
// shared with other code following the same gateway.
func WithEpochTracker(t *EpochTracker) Option {
	return func(c *config) error {
		c.tracker = t
		return nil
	}
}

// withClock replaces the clock (tests).
func withClock(k clock) Option {
	return func(c *config) error {
		c.clock = k
		return nil
	}
}

// WithGatewayPort makes a [Listener] accept announcements from port p of
// the gateway instead of [Port] (5351), where RFC 6886 §3.2.1 has gateways
// send them from: for a test gateway on another port, such as one of
// package portmaptest. A [Client]'s own listener takes the port of the
// client's gateway.
func WithGatewayPort(p uint16) Option {
	return func(c *config) error {
		if p == 0 {
			return fmt.Errorf("natpmp: gateway port 0")
		}
		c.gatewayPort = p
		return nil
	}
}

// withConn replaces the client's socket (tests).
func withConn(pc packetConn) Option {
	return func(c *config) error {
		c.conn = pc
		return nil
	}
}
