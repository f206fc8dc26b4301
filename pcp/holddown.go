package pcp

import (
	"net/netip"
	"time"
)

// holdKey identifies "the same request" for error hold-downs (RFC 6887
// §8.3: after an error, do not repeat the same request for the error's
// lifetime). The nonce and the lifetime value are not part of it: a retry
// with a new nonce is still the same request.
type holdKey struct {
	op       Opcode
	proto    Protocol
	port     uint16
	ext      netip.AddrPort
	remote   netip.AddrPort
	third    netip.Addr
	del      bool
	anyNewMP bool // NO_RESOURCES: every request creating a mapping
}

func holdKeyFor(r *Request) holdKey {
	k := holdKey{op: r.Opcode, del: r.Lifetime == 0 && r.Opcode != OpAnnounce}
	if r.Opcode == OpMap || r.Opcode == OpPeer {
		k.proto = r.Data.Protocol
		k.port = r.Data.InternalPort
		k.ext = netip.AddrPortFrom(r.Data.ExternalAddr, r.Data.ExternalPort)
		k.remote = netip.AddrPortFrom(r.Data.RemoteAddr, r.Data.RemotePort)
		k.third = r.Options.ThirdParty
	}
	return k
}

// holdTable remembers errors under hold-down. Not safe for concurrent use.
type holdTable map[holdKey]*ResultError

// maxHolds bounds the table; beyond it expired entries are purged and, if
// still full, new hold-downs are not recorded.
const maxHolds = 256

// check returns the error under hold-down for r at now, or nil.
func (t holdTable) check(r *Request, now time.Time) *ResultError {
	k := holdKeyFor(r)
	if e := t.get(k, now); e != nil {
		return e
	}
	if (r.Opcode == OpMap || r.Opcode == OpPeer) && r.Lifetime > 0 {
		return t.get(holdKey{anyNewMP: true}, now)
	}
	return nil
}

func (t holdTable) get(k holdKey, now time.Time) *ResultError {
	e, ok := t[k]
	if !ok {
		return nil
	}
	if !now.Before(e.Until) {
		delete(t, k)
		return nil
	}
	return e
}

// add records e (whose Until is set) for r.
func (t holdTable) add(r *Request, e *ResultError, now time.Time) {
	if e.HoldDown <= 0 {
		return
	}
	if len(t) >= maxHolds {
		for k, v := range t {
			if !now.Before(v.Until) {
				delete(t, k)
			}
		}
		if len(t) >= maxHolds {
			return
		}
	}
	t[holdKeyFor(r)] = e
	// RFC 6887 §8.3: after NO_RESOURCES for a request creating or renewing
	// a mapping, send no request for new mappings until the lifetime ends.
	if e.Code == NoResources && (r.Opcode == OpMap || r.Opcode == OpPeer) && r.Lifetime > 0 {
		t[holdKey{anyNewMP: true}] = e
	}
}
