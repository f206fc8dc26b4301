package portmaptest

import (
	"strings"
	"time"
)

// Drop, given as the code to FailNext or FailAlways, makes the gateway not
// answer at all: a UDP request is ignored, an HTTP request gets its
// connection closed without a reply.
const Drop = -1

// faults holds the error injection knobs. The Gateway's mutex guards it.
type faults struct {
	next     map[string][]int // action -> codes to answer, in order
	always   map[string]int
	dropNext int
	dropRate float64
	delay    time.Duration
	// noPCP: PCP is answered as by a NAT-PMP-only router (RefusePCP).
	noPCP bool
}

// FailNext makes the next request for action be answered with code
// instead of being served; several calls queue several failures.
//
// action is a SOAP action name ("AddPortMapping", "GetExternalIPAddress",
// ...; code a UPnP error code such as 718, 725, 402, 606, 501),
// "natpmp:address" or "natpmp:map" (a NAT-PMP result code), "pcp:announce",
// "pcp:map" or "pcp:peer" (a PCP result code), "ssdp:search" (only Drop
// makes sense), "http:description" (an HTTP status), "gena:subscribe",
// "gena:renew" or "gena:unsubscribe" (an HTTP status such as 412).
// "upnp:*", "natpmp:*", "pcp:*", "ssdp:*", "http:*" and "gena:*" match
// every action of that kind (SOAP actions are "upnp:*"), and "*" every
// request. code Drop means no answer at all.
func (g *Gateway) FailNext(action string, code int) {
	g.mu.Lock()
	g.faults.next[action] = append(g.faults.next[action], code)
	g.mu.Unlock()
}

// FailAlways makes every request for action be answered with code (see
// FailNext), until ClearFailures. FailNext failures queued for the same
// action come first.
func (g *Gateway) FailAlways(action string, code int) {
	g.mu.Lock()
	g.faults.always[action] = code
	g.mu.Unlock()
}

// ClearFailures removes every failure set by FailNext and FailAlways, and
// the drop knobs and RefusePCP.
func (g *Gateway) ClearFailures() {
	g.mu.Lock()
	clear(g.faults.next)
	clear(g.faults.always)
	g.faults.dropNext = 0
	g.faults.dropRate = 0
	g.faults.noPCP = false
	g.mu.Unlock()
}

// RefusePCP(true) makes a running gateway answer every PCP request the way
// a NAT-PMP-only router does (the 8-byte NAT-PMP "unsupported version"
// reply, which PCP clients read as UNSUPP_VERSION with version 0, RFC 6887
// §9) and stop sending PCP announcements, as if a firmware update had
// turned PCP off: the run-time counterpart of leaving PCP out of
// Config.Protocols, for testing clients that must fall back mid-session.
// NAT-PMP and UPnP keep working, with the same mapping table.
// RefusePCP(false) (or ClearFailures) brings PCP back.
func (g *Gateway) RefusePCP(on bool) {
	g.mu.Lock()
	g.faults.noPCP = on
	g.mu.Unlock()
}

// servesPCPLocked reports whether PCP is served now (Config.Protocols and
// RefusePCP). g.mu is held.
func (g *Gateway) servesPCPLocked() bool { return g.cfg.serves(PCP) && !g.faults.noPCP }

// DropNext makes the gateway ignore the next n UDP requests (NAT-PMP, PCP
// and SSDP alike), as if they were lost on the way.
func (g *Gateway) DropNext(n int) {
	g.mu.Lock()
	g.faults.dropNext = max(n, 0)
	g.mu.Unlock()
}

// SetDropRate makes the gateway ignore each UDP request with probability p
// (0 to 1), drawn from a generator seeded with Config.Seed.
func (g *Gateway) SetDropRate(p float64) {
	g.mu.Lock()
	g.faults.dropRate = min(max(p, 0), 1)
	g.mu.Unlock()
}

// SetDelay delays every reply (UDP and HTTP) by d, in real time.
func (g *Gateway) SetDelay(d time.Duration) {
	g.mu.Lock()
	g.faults.delay = max(d, 0)
	g.mu.Unlock()
}

// kindOf returns the "kind:*" wildcard of an action.
func kindOf(action string) string {
	if k, _, ok := strings.Cut(action, ":"); ok {
		return k + ":*"
	}
	return "upnp:*" // SOAP action names have no prefix
}

// decideLocked consumes the knobs for one request of action. It reports
// whether the request is to be dropped and, if a failure was injected,
// its code.
func (g *Gateway) decideLocked(action string, udp bool) (drop bool, code int, injected bool) {
	f := &g.faults
	if udp {
		if f.dropNext > 0 {
			f.dropNext--
			return true, Drop, true
		}
		if f.dropRate > 0 && g.rng.Float64() < f.dropRate {
			return true, Drop, true
		}
	}
	for _, k := range []string{action, kindOf(action), "*"} {
		if q := f.next[k]; len(q) > 0 {
			code = q[0]
			if len(q) == 1 {
				delete(f.next, k)
			} else {
				f.next[k] = q[1:]
			}
			return code == Drop, code, true
		}
	}
	for _, k := range []string{action, kindOf(action), "*"} {
		if c, ok := f.always[k]; ok {
			return c == Drop, c, true
		}
	}
	return false, 0, false
}
