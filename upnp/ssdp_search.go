package upnp

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
	"golang.org/x/net/ipv6"
)

// searchConfig describes one SSDP search.
type searchConfig struct {
	// unicast is the gateway's SSDP address; invalid means none.
	unicast netip.AddrPort
	// multicast is the multicast destination; invalid means none. A
	// non-multicast address (tests) is sent to like a unicast one.
	multicast netip.AddrPort
	// iface is the interface for multicast; nil means the system default.
	iface *net.Interface
	// first are the STs searched for at once; later are added after
	// laterDelay (see searchRounds).
	first, later []string
	// paused, if set, is asked before each round after the first; while
	// it reports true the round waits (and is sent when it turns false, if
	// the search is still on). Discover pauses while it describes the
	// gateway that answered: the later rounds are there to cover lost
	// datagrams, and miniupnpd 2.3.1 serves each M-SEARCH in the same
	// loop as the description GET and the SOAP calls that follow (see
	// searchRounds).
	paused func() bool
	log    *slog.Logger
}

// searchRound is one batch of M-SEARCH requests.
type searchRound struct {
	at      time.Duration // after the start
	targets []string
	// unicastOnly sends the round to the gateway only, not to the
	// multicast group.
	unicastOnly bool
}

// Search timing.
const (
	// laterDelay is when the secondary STs follow the first one.
	// miniupnpd 2.3.1 answers in about 55 ms but paces its replies (a
	// pair every ~34 ms) and serves HTTP in between: ten M-SEARCHes (five
	// STs, unicast and multicast) delayed the description fetch that
	// follows by 40-100 ms, so a search took 150-200 ms instead of 60. A
	// device that only answers a secondary ST costs these 100 ms more.
	laterDelay = 100 * time.Millisecond
	// resendDelay and resendAgain are when every ST is sent again, to
	// cover a lost datagram (UDA 1.1 asks control points to send each
	// search more than once).
	resendDelay = 500 * time.Millisecond
	resendAgain = 1500 * time.Millisecond
)

// searchRounds returns when to send what. With the gateway known, the
// secondary STs go to it alone at first and to the multicast group only
// with the first resend: miniupnpd 2.3.1 with 100 mappings takes 350 ms
// to answer the first M-SEARCH and about 60 ms of its single loop for each
// one queued behind it, so the 20 datagrams of a search that sent
// everything both ways (and resent at 350 ms) held up the description GET
// and the SOAP calls after it by 0.8 s (cold `portmap list`, testbed).
func (cfg searchConfig) searchRounds() []searchRound {
	all := append(append([]string(nil), cfg.first...), cfg.later...)
	if len(cfg.later) == 0 {
		return []searchRound{{at: 0, targets: all}, {at: 250 * time.Millisecond, targets: all}, {at: time.Second, targets: all}}
	}
	return []searchRound{
		{at: 0, targets: cfg.first},
		{at: laterDelay, targets: cfg.later, unicastOnly: cfg.unicast.IsValid()},
		{at: resendDelay, targets: all},
		{at: resendAgain, targets: all},
	}
}

// ssdpSearch sends M-SEARCH requests to the unicast and multicast
// destinations at the same moment, per searchRounds, and delivers every
// parsed reply on out until ctx ends. It returns after its sockets are
// closed and its goroutines have ended.
// Replies may come from any source port: some routers (e.g. Netgear
// R7000 and several Huawei HG firmwares) answer from an ephemeral port, so
// replies are not filtered by port.
func ssdpSearch(ctx context.Context, cfg searchConfig, out chan<- *SearchResponse) error {
	type dest struct {
		to   netip.AddrPort
		host netip.AddrPort // HOST header value
	}
	var dests []dest
	if cfg.unicast.IsValid() {
		// UDA 1.1 §1.3.2: a unicast search names the target in HOST.
		dests = append(dests, dest{cfg.unicast, cfg.unicast})
	}
	if cfg.multicast.IsValid() {
		dests = append(dests, dest{cfg.multicast, cfg.multicast})
	}
	if len(dests) == 0 {
		return errors.New("upnp: no SSDP destination (no gateway and multicast disabled)")
	}
	conns := make(map[bool]*net.UDPConn) // keyed by "is IPv4"
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for _, d := range dests {
		is4 := d.to.Addr().Unmap().Is4()
		if conns[is4] != nil {
			continue
		}
		c, err := openSearchConn(is4, cfg.iface)
		if err != nil {
			return err
		}
		conns[is4] = c
	}
	for _, d := range dests {
		if d.to.Addr().IsMulticast() {
			setMulticastOptions(conns[d.to.Addr().Unmap().Is4()], d.to.Addr(), cfg.iface, cfg.log)
		}
	}

	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Go(func() { readSearchReplies(ctx, c, out, cfg.log) })
	}
	defer func() {
		for _, c := range conns {
			c.Close() // unblocks the readers
		}
		wg.Wait()
	}()

	start := time.Now()
	rounds := cfg.searchRounds()
	var lastErr error
	sent := 0
	for i, round := range rounds {
		if !sleepCtx(ctx, time.Until(start.Add(round.at))) {
			return nil
		}
		if sent > 0 && cfg.paused != nil && cfg.paused() {
			if !waitUnpaused(ctx, cfg.paused) {
				return nil
			}
			if i+1 < len(rounds) && time.Since(start) >= rounds[i+1].at {
				continue // held past the next round too: send only that one
			}
		}
		for _, d := range dests {
			if round.unicastOnly && d.to != cfg.unicast {
				continue
			}
			c := conns[d.to.Addr().Unmap().Is4()]
			for _, st := range round.targets {
				_, err := c.WriteToUDPAddrPort(mSearch(d.host, st), d.to)
				if err != nil {
					lastErr = err
					continue
				}
				sent++
			}
		}
		if sent == 0 {
			return fmt.Errorf("upnp: sending M-SEARCH: %w", lastErr)
		}
	}
	<-ctx.Done()
	return nil
}

// sleepCtx waits d, or until ctx ends (then it returns false).
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// pausePoll is how often a paused search checks whether it may go on.
const pausePoll = 20 * time.Millisecond

// waitUnpaused waits until paused reports false, or until ctx ends (then
// it returns false).
func waitUnpaused(ctx context.Context, paused func() bool) bool {
	for paused() {
		if !sleepCtx(ctx, pausePoll) {
			return false
		}
	}
	return true
}

func openSearchConn(is4 bool, iface *net.Interface) (*net.UDPConn, error) {
	network, laddr := "udp6", &net.UDPAddr{IP: net.IPv6unspecified}
	if is4 {
		network, laddr = "udp4", &net.UDPAddr{IP: net.IPv4zero}
	}
	c, err := net.ListenUDP(network, laddr)
	if err != nil {
		return nil, fmt.Errorf("upnp: opening SSDP socket: %w", err)
	}
	return c, nil
}

// setMulticastOptions selects the interface and sets the TTL (UDA 1.1: 2)
// for multicast searches. Failures are logged, not fatal: the system
// defaults usually work.
func setMulticastOptions(c *net.UDPConn, group netip.Addr, iface *net.Interface, log *slog.Logger) {
	var errs []error
	if group.Unmap().Is4() {
		p := ipv4.NewPacketConn(c)
		errs = append(errs, p.SetMulticastTTL(2))
		if iface != nil {
			errs = append(errs, p.SetMulticastInterface(iface))
		}
	} else {
		p := ipv6.NewPacketConn(c)
		errs = append(errs, p.SetMulticastHopLimit(2))
		if iface != nil {
			errs = append(errs, p.SetMulticastInterface(iface))
		}
	}
	if err := errors.Join(errs...); err != nil {
		log.Debug("upnp: multicast socket options", "err", err)
	}
}

// readSearchReplies reads until c is closed, parses each datagram and
// sends valid replies on out. Oversized datagrams are dropped.
func readSearchReplies(ctx context.Context, c *net.UDPConn, out chan<- *SearchResponse, log *slog.Logger) {
	buf := make([]byte, maxSSDPDatagram+1)
	for {
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				log.Debug("upnp: SSDP read", "err", err)
			}
			return
		}
		if n > maxSSDPDatagram {
			log.Debug("upnp: oversized SSDP datagram dropped", "from", from, "bytes", n)
			continue
		}
		r, err := ParseSearchResponse(buf[:n])
		if err != nil {
			log.Debug("upnp: ignoring SSDP datagram", "from", from, "err", err)
			continue
		}
		r.From = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		log.Debug("upnp: SSDP reply", "from", r.From, "st", r.ST, "location", r.Location)
		select {
		case out <- r:
		case <-ctx.Done():
			return
		}
	}
}
