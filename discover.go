package portmap

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"time"
)

// target is the gateway a discovery talks to, and how.
type target struct {
	gateway netip.Addr
	port    uint16 // test gateways: one port for NAT-PMP, PCP and SSDP; 0 = standard ports
	local   netip.Addr
	opts    *Options
	full    bool // DiscoverAll: probes report status and external address too
}

// probeResult is one protocol's answer to a probe.
type probeResult struct {
	b    backend // nil on failure
	info ProbeResult
}

// ProbeResult is what one protocol's probe of a gateway found.
type ProbeResult struct {
	// Protocol is the protocol probed.
	Protocol Protocol
	// Version describes what answered: "IGD:2 WANIPConnection:2", "NAT-PMP", "PCP v2".
	Version string
	// ExternalIP is the external address the protocol reported.
	ExternalIP netip.Addr
	// Status is the UPnP connection status ("Connected"), empty for others.
	Status string
	// RTT is how long the probe took to get its answer.
	RTT time.Duration
	// Err is why the protocol did not answer usefully, nil if it did.
	Err error
}

// upnpHeadStart is how long PCP and NAT-PMP have to answer before UPnP's
// SSDP search starts. On a LAN they answer in a few milliseconds.
const upnpHeadStart = 30 * time.Millisecond

// graceBest is how long Discover waits, after a first usable answer, for a
// better protocol that has not answered yet. PCP and NAT-PMP come from the
// same daemon on most routers and answer within a millisecond of each
// other, so this is rarely waited out.
const graceBest = 150 * time.Millisecond

// Discover finds the gateway (Options.Gateway, or the default gateway),
// probes PCP, NAT-PMP and UPnP at once, and returns a Client for the best
// protocol that answered. It returns as soon as the best protocol still
// possible has answered. When none answers it returns a *[NoGatewayError].
func Discover(ctx context.Context, opts Options) (*Client, error) {
	start := time.Now()
	t, err := resolveTarget(ctx, &opts)
	if err != nil {
		return nil, err
	}
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	protos := enabled(&opts)
	results := make(chan probeResult, len(protos))
	// UPnP starts a moment after PCP and NAT-PMP, or as soon as both have
	// failed: its SSDP searches keep a single-threaded router busy (on
	// miniupnpd 2.3.1 a PCP reply sent beside them takes 45 ms instead of
	// 2), and when PCP or NAT-PMP answers first no search is sent at all.
	headStart := len(protos) > 1 && slices.Contains(protos, UPnP)
	upnpGo := make(chan struct{})
	var startUPnP sync.Once
	goUPnP := func() { startUPnP.Do(func() { close(upnpGo) }) }
	if !headStart {
		goUPnP()
	}
	timer := time.AfterFunc(upnpHeadStart, goUPnP)
	defer timer.Stop()
	for _, p := range protos {
		go func() {
			if p == UPnP {
				select {
				case <-upnpGo:
				case <-pctx.Done():
					results <- probeResult{info: ProbeResult{Protocol: UPnP, Err: pctx.Err()}}
					return
				}
			}
			results <- probe(pctx, t, p)
		}()
	}
	var (
		best    *probeResult
		tried   = map[Protocol]error{}
		pending = map[Protocol]bool{}
		grace   <-chan time.Time
	)
	for _, p := range protos {
		pending[p] = true
	}
	// Results that arrive after the choice are closed in the background.
	defer func() {
		go func(n int) {
			for range n {
				if r := <-results; r.b != nil && (best == nil || r.b != best.b) {
					r.b.close()
				}
			}
		}(len(pending))
	}()
	for len(pending) > 0 {
		select {
		case r := <-results:
			delete(pending, r.info.Protocol)
			if r.b == nil {
				tried[r.info.Protocol] = r.info.Err
				t.opts.logger().Debug("probe failed", "protocol", r.info.Protocol, "err", r.info.Err, "rtt", r.info.RTT)
				if len(pending) == 1 && pending[UPnP] {
					goUPnP() // PCP and NAT-PMP failed: no reason to wait
				}
				break
			}
			t.opts.logger().Debug("probe answered", "protocol", r.info.Protocol, "version", r.info.Version, "rtt", r.info.RTT)
			if best == nil || r.info.Protocol.rank() < best.info.Protocol.rank() {
				if best != nil {
					best.b.close()
				}
				best = &r
			} else {
				r.b.close()
			}
			if grace == nil {
				grace = time.After(graceBest)
			}
		case <-grace:
			return chosen(t, best), nil
		case <-ctx.Done():
			if best != nil {
				return chosen(t, best), nil
			}
			// The probes end with ctx too: let them say why (a refused
			// LOCATION says more than "deadline exceeded").
			late := time.NewTimer(100 * time.Millisecond)
		collect:
			for len(pending) > 0 {
				select {
				case r := <-results:
					delete(pending, r.info.Protocol)
					if r.b != nil {
						r.b.close()
						r.info.Err = ctx.Err()
					}
					tried[r.info.Protocol] = r.info.Err
				case <-late.C:
					break collect
				}
			}
			late.Stop()
			for p := range pending {
				tried[p] = ctx.Err()
			}
			return nil, &NoGatewayError{Gateway: t.gateway, Tried: tried, Elapsed: time.Since(start)}
		}
		if best != nil && !betterPending(best.info.Protocol, pending) {
			return chosen(t, best), nil
		}
	}
	if best != nil {
		return chosen(t, best), nil
	}
	return nil, &NoGatewayError{Gateway: t.gateway, Tried: tried, Elapsed: time.Since(start)}
}

func chosen(t *target, r *probeResult) *Client {
	return &Client{b: r.b, gateway: t.gateway, local: t.local, opts: *t.opts}
}

// betterPending reports whether a protocol better than p has yet to answer.
func betterPending(p Protocol, pending map[Protocol]bool) bool {
	for q := range pending {
		if q.rank() < p.rank() {
			return true
		}
	}
	return false
}

func enabled(o *Options) []Protocol {
	var ps []Protocol
	for _, p := range Protocols {
		if o.wants(p) {
			ps = append(ps, p)
		}
	}
	return ps
}

// probe runs one protocol's probe and times it.
func probe(ctx context.Context, t *target, p Protocol) probeResult {
	start := time.Now()
	var r probeResult
	switch p {
	case PCP:
		r = probePCP(ctx, t)
	case NATPMP:
		r = probeNATPMP(ctx, t)
	case UPnP:
		r = probeUPnP(ctx, t)
	default:
		r.info.Err = fmt.Errorf("unknown protocol %q", p)
	}
	r.info.Protocol = p
	r.info.RTT = time.Since(start)
	if r.info.Err != nil && r.b != nil {
		r.b.close()
		r.b = nil
	}
	if r.info.Err == nil && r.b == nil {
		r.info.Err = errors.New("no answer")
	}
	return r
}
