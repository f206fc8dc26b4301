package pcp

import (
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"time"
)

// Option configures a [Client].
type Option func(*config)

type config struct {
	clock         Clock
	retransmit    Retransmit
	onEvent       func(Event)
	logger        *slog.Logger
	announceAddrs []netip.AddrPort
	mcastIface    string
	clientAddr    netip.Addr
	localAddr     netip.Addr
	rand          func() float64
}

func defaultConfig() config {
	return config{
		clock:         systemClock{},
		announceAddrs: DefaultAnnounceAddrs(),
		rand:          rand.Float64,
	}
}

// DefaultAnnounceAddrs returns the groups unsolicited PCP responses are
// multicast to (RFC 6887 §14.1.1): 224.0.0.1:5350 and
// [ff02::1]:5350.
func DefaultAnnounceAddrs() []netip.AddrPort {
	return []netip.AddrPort{
		netip.AddrPortFrom(netip.AddrFrom4([4]byte{224, 0, 0, 1}), ClientPort),
		netip.AddrPortFrom(netip.MustParseAddr("ff02::1"), ClientPort),
	}
}

// WithClock sets the clock used for retransmission timers, epoch
// validation and error hold-downs (for tests).
func WithClock(c Clock) Option { return func(cf *config) { cf.clock = c } }

// WithRetransmit sets the retransmission policy (default: RFC 6887 §8.1.1,
// IRT 3 s doubling to MRT 1024 s, unbounded count: the context ends calls).
func WithRetransmit(r Retransmit) Option { return func(cf *config) { cf.retransmit = r } }

// WithFirstTimeout shortens the first wait for a response to d (e.g.
// 250 ms) for interactive use; later waits follow the RFC schedule. It sets
// Retransmit.FirstTimeout.
func WithFirstTimeout(d time.Duration) Option {
	return func(cf *config) { cf.retransmit.FirstTimeout = d }
}

// WithEventHandler sets the function that receives [Event]s: unsolicited
// ANNOUNCE and MAP/PEER responses and detected server reboots. It is
// called from one goroutine of the client, in order; events are queued (up
// to 64, further ones are dropped and counted in [Stats]) so a slow handler
// does not stall the client, and the handler may call the client.
func WithEventHandler(fn func(Event)) Option { return func(cf *config) { cf.onEvent = fn } }

// WithLogger logs every request and response at debug level.
func WithLogger(l *slog.Logger) Option { return func(cf *config) { cf.logger = l } }

// WithAnnounceAddrs sets where [Client.ListenAnnouncements] listens
// (default [DefaultAnnounceAddrs]). A multicast address is joined on the
// interface of [WithMulticastInterface] or the one holding the client's
// address; a unicast address (e.g. 127.0.0.1:port in tests) is simply bound.
func WithAnnounceAddrs(addrs ...netip.AddrPort) Option {
	return func(cf *config) { cf.announceAddrs = append([]netip.AddrPort(nil), addrs...) }
}

// WithMulticastInterface names the interface on which announcement groups
// are joined.
func WithMulticastInterface(name string) Option { return func(cf *config) { cf.mcastIface = name } }

// WithLocalAddr binds the client's socket to this local address (the
// default lets the system choose the address toward the server).
func WithLocalAddr(a netip.Addr) Option { return func(cf *config) { cf.localAddr = a } }

// WithClientAddr overrides the PCP Client's IP Address field, which is by
// default the socket's local address toward the server. A value other than
// the packet's source address makes the server answer ADDRESS_MISMATCH;
// this exists for tests and for the rare set-up where the caller knows
// better.
func WithClientAddr(a netip.Addr) Option { return func(cf *config) { cf.clientAddr = a } }
