package portmaptest

import (
	"cmp"
	"net/netip"
	"slices"
	"time"

	"github.com/portmap-dev/portmap/pcp"
)

// Pinhole is one inbound IPv6 firewall pinhole, opened with UPnP
// WANIPv6FirewallControl (AddPinhole) or with a PCP MAP over IPv6.
type Pinhole struct {
	// ID is the UPnP UniqueID (PCP pinholes get one too).
	ID uint16
	// Protocol is the protocol that opened it: UPnP or PCP.
	Protocol Protocol
	// RemoteHost and RemotePort restrict the sender (zero: any).
	RemoteHost netip.Addr
	RemotePort uint16
	// InternalClient and InternalPort are the LAN host and port the hole
	// lets traffic reach (port 0: any).
	InternalClient netip.Addr
	InternalPort   uint16
	// IPProtocol is the IANA protocol number: 6 TCP, 17 UDP, 136 UDP-Lite,
	// 65535 any.
	IPProtocol uint16
	// Lifetime is the lease granted; Expires is when it ends.
	Lifetime time.Duration
	Expires  time.Time
	// Packets is what GetPinholePackets reports and CheckPinholeWorking
	// checks (709 NoPacketSent while 0); set it with
	// Gateway.SetPinholePackets.
	Packets uint32
	// Nonce is the PCP mapping nonce (PCP pinholes only).
	Nonce pcp.Nonce
}

// pinholeTable holds the pinholes. The Gateway's mutex guards it.
type pinholeTable struct {
	byID    map[uint16]*Pinhole
	nextID  uint16
	maxSize int
}

func newPinholeTable(maxSize int) *pinholeTable {
	return &pinholeTable{byID: make(map[uint16]*Pinhole), nextID: 1, maxSize: maxSize}
}

func (t *pinholeTable) expire(now time.Time) {
	for id, p := range t.byID {
		if !now.Before(p.Expires) {
			delete(t.byID, id)
		}
	}
}

func (t *pinholeTable) clear() {
	clear(t.byID)
	t.nextID = 1
}

// add stores p under a new ID and returns it, or false when the table is
// full.
func (t *pinholeTable) add(p *Pinhole) (uint16, bool) {
	if len(t.byID) >= t.maxSize {
		return 0, false
	}
	for range 65536 {
		id := t.nextID
		t.nextID++
		if t.nextID == 0 {
			t.nextID = 1
		}
		if id != 0 && t.byID[id] == nil {
			p.ID = id
			t.byID[id] = p
			return id, true
		}
	}
	return 0, false
}

func (t *pinholeTable) find(fn func(*Pinhole) bool) *Pinhole {
	for _, p := range t.byID {
		if fn(p) {
			return p
		}
	}
	return nil
}

func (t *pinholeTable) snapshot() []Pinhole {
	out := make([]Pinhole, 0, len(t.byID))
	for _, p := range t.byID {
		out = append(out, *p)
	}
	slices.SortFunc(out, func(a, b Pinhole) int { return cmp.Compare(a.ID, b.ID) })
	return out
}
