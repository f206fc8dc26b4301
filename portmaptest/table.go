package portmaptest

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/portmap-dev/portmap/pcp"
)

// Mapping is one entry of the gateway's port mapping table, whichever
// protocol made it. The table is shared: a port mapped with UPnP is taken
// for NAT-PMP and PCP too.
type Mapping struct {
	// Protocol is the protocol that created (or last overwrote) the
	// mapping.
	Protocol Protocol
	// Transport is "TCP" or "UDP".
	Transport string
	// ExternalPort is the port on the external address.
	ExternalPort uint16
	// InternalAddr and InternalPort are where traffic goes: UPnP's
	// NewInternalClient, the NAT-PMP sender, the PCP client (or its
	// THIRD_PARTY address).
	InternalAddr netip.Addr
	InternalPort uint16
	// RemoteHost is UPnP's NewRemoteHost (zero: any), or the remote peer of
	// a PCP PEER mapping; RemotePort is the PEER's remote port.
	RemoteHost netip.Addr
	RemotePort uint16
	// Peer marks a PCP PEER (outbound) mapping. PEER mappings share the
	// external port of a MAP of the same internal port, and UPnP does not
	// list them.
	Peer bool
	// Description is UPnP's NewPortMappingDescription; NAT-PMP and PCP
	// mappings get one like miniupnpd's ("NAT-PMP 8080 tcp", "PCP MAP").
	Description string
	// Enabled is UPnP's NewEnabled (always true for NAT-PMP and PCP).
	Enabled bool
	// Lifetime is the lifetime granted; 0 means permanent.
	Lifetime time.Duration
	// Expires is when the mapping ends (zero: never). Expired mappings
	// disappear from the table the next time it is looked at.
	Expires time.Time
	// Nonce is the PCP mapping nonce (zero for the other protocols).
	Nonce pcp.Nonce
	// Created is when the mapping was made (or last overwritten).
	Created time.Time
}

// mapKey identifies a (non-PEER) mapping: transport and external port.
type mapKey struct {
	transport string
	port      uint16
}

// peerKey identifies a PEER mapping.
type peerKey struct {
	transport string
	internal  netip.AddrPort
	remote    netip.AddrPort
}

// entry is a table row: the public Mapping plus what only the gateway
// needs.
type entry struct {
	Mapping
	// client is the PCP client's socket, where unsolicited MAP responses
	// go when the external address changes.
	client netip.AddrPort
	seq    uint64 // creation order (GetGenericPortMappingEntry)
}

// table is the shared mapping table. It is not safe for concurrent use;
// the Gateway's mutex guards it.
type table struct {
	maps    map[mapKey]*entry
	peers   map[peerKey]*entry
	seq     uint64
	lo, hi  uint16
	maxSize int
}

func newTable(lo, hi uint16, maxSize int) *table {
	return &table{maps: make(map[mapKey]*entry), peers: make(map[peerKey]*entry), lo: lo, hi: hi, maxSize: maxSize}
}

var errTableFull = errors.New("portmaptest: mapping table full")

// expire removes the entries whose lifetime has ended and reports whether
// any (non-PEER) mapping went.
func (t *table) expire(now time.Time) bool {
	changed := false
	for k, e := range t.maps {
		if !e.Expires.IsZero() && !now.Before(e.Expires) {
			delete(t.maps, k)
			changed = true
		}
	}
	for k, e := range t.peers {
		if !e.Expires.IsZero() && !now.Before(e.Expires) {
			delete(t.peers, k)
		}
	}
	return changed
}

func (t *table) clear() {
	clear(t.maps)
	clear(t.peers)
}

func (t *table) size() int { return len(t.maps) + len(t.peers) }

func (t *table) get(transport string, port uint16) *entry {
	return t.maps[mapKey{transport, port}]
}

// put stores e under its key, replacing what is there.
func (t *table) put(e *entry) error {
	k := mapKey{e.Transport, e.ExternalPort}
	if _, ok := t.maps[k]; !ok && t.size() >= t.maxSize {
		return errTableFull
	}
	t.seq++
	e.seq = t.seq
	t.maps[k] = e
	return nil
}

func (t *table) putPeer(e *entry) error {
	k := peerKey{e.Transport, netip.AddrPortFrom(e.InternalAddr, e.InternalPort), netip.AddrPortFrom(e.RemoteHost, e.RemotePort)}
	if _, ok := t.peers[k]; !ok && t.size() >= t.maxSize {
		return errTableFull
	}
	t.seq++
	e.seq = t.seq
	t.peers[k] = e
	return nil
}

func (t *table) delete(transport string, port uint16) bool {
	k := mapKey{transport, port}
	_, ok := t.maps[k]
	delete(t.maps, k)
	return ok
}

func (t *table) deletePeer(e *entry) {
	delete(t.peers, peerKey{e.Transport, netip.AddrPortFrom(e.InternalAddr, e.InternalPort), netip.AddrPortFrom(e.RemoteHost, e.RemotePort)})
}

// allowed reports whether port is in the gateway's external port range.
func (t *table) allowed(port uint16) bool { return port >= t.lo && port <= t.hi }

// free reports whether transport/port is allowed and not mapped.
func (t *table) free(transport string, port uint16) bool {
	return t.allowed(port) && t.maps[mapKey{transport, port}] == nil
}

// nearestFree returns the free port closest to want, trying want, then
// want+1, want-1, want+2, ... within the allowed range, as miniupnpd's
// AddAnyPortMapping does.
func (t *table) nearestFree(transport string, want uint16) (uint16, bool) {
	w := int(min(max(want, t.lo), t.hi))
	lo, hi := int(t.lo), int(t.hi)
	for d := 0; w-d >= lo || w+d <= hi; d++ {
		if p := w + d; p <= hi && t.free(transport, uint16(p)) {
			return uint16(p), true
		}
		if p := w - d; d > 0 && p >= lo && t.free(transport, uint16(p)) {
			return uint16(p), true
		}
	}
	return 0, false
}

// find returns the first non-PEER entry matching fn, in creation order.
func (t *table) find(fn func(*entry) bool) *entry {
	var best *entry
	for _, e := range t.maps {
		if fn(e) && (best == nil || e.seq < best.seq) {
			best = e
		}
	}
	return best
}

// findPeer returns the PEER entry for transport, internal and remote.
func (t *table) findPeer(transport string, internal, remote netip.AddrPort) *entry {
	return t.peers[peerKey{transport, internal, remote}]
}

// inOrder returns the non-PEER entries in creation order, the order of
// GetGenericPortMappingEntry indexes.
func (t *table) inOrder() []*entry {
	out := make([]*entry, 0, len(t.maps))
	for _, e := range t.maps {
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b *entry) int { return cmp.Compare(a.seq, b.seq) })
	return out
}

// byPort returns the non-PEER entries of transport with external ports in
// [lo, hi], sorted by port.
func (t *table) byPort(transport string, lo, hi uint16) []*entry {
	var out []*entry
	for k, e := range t.maps {
		if k.transport == transport && k.port >= lo && k.port <= hi {
			out = append(out, e)
		}
	}
	slices.SortFunc(out, func(a, b *entry) int { return cmp.Compare(a.ExternalPort, b.ExternalPort) })
	return out
}

// snapshot returns copies of every mapping, PEER ones included, sorted by
// transport, external port, then internal address and port.
func (t *table) snapshot() []Mapping {
	out := make([]Mapping, 0, t.size())
	for _, e := range t.maps {
		out = append(out, e.Mapping)
	}
	for _, e := range t.peers {
		out = append(out, e.Mapping)
	}
	slices.SortFunc(out, func(a, b Mapping) int {
		return cmp.Or(
			cmp.Compare(a.Transport, b.Transport),
			cmp.Compare(a.ExternalPort, b.ExternalPort),
			a.InternalAddr.Compare(b.InternalAddr),
			cmp.Compare(a.InternalPort, b.InternalPort),
			a.RemoteHost.Compare(b.RemoteHost),
			cmp.Compare(a.RemotePort, b.RemotePort),
		)
	})
	return out
}

// normTransport returns "TCP" or "UDP" for any case of those names.
func normTransport(s string) (string, error) {
	switch u := strings.ToUpper(s); u {
	case "TCP", "UDP":
		return u, nil
	}
	return "", fmt.Errorf("portmaptest: transport %q: want TCP or UDP", s)
}

// expiry returns when a mapping granted lifetime d at now ends (zero:
// never).
func expiry(now time.Time, d time.Duration) time.Time {
	if d <= 0 {
		return time.Time{}
	}
	return now.Add(d)
}

// remaining returns the whole seconds left before e expires, rounded up
// (0 for a permanent mapping).
func remaining(exp, now time.Time) uint32 {
	if exp.IsZero() {
		return 0
	}
	d := exp.Sub(now)
	if d <= 0 {
		return 0
	}
	return uint32((d + time.Second - 1) / time.Second)
}
