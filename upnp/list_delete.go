package upnp

import (
	"context"
	"errors"
	"fmt"
	"slices"
)

// DeletePortMappingRange (IGDv2) removes the mappings of proto with
// external ports in [start, end]. manage=false limits it to the caller's
// own mappings; true asks for all (may need DeviceProtection rights).
//
// miniupnpd 2.3.1 corrupts its heap and dies when one
// DeletePortMappingRange request covers more than 128 mappings (it
// collects them with the same get_portmappings_in_range as
// GetListOfPortMappings; seen in e2e tests with 200 mappings). So unless
// the whole table is smaller than 64 entries, the range is first listed
// safely (see ListPortMappings) and deleted in sub-ranges that hold at
// most 64 mappings each. A range holding no mapping gets the device's own
// answer, normally 730 PortMappingNotFound.
func (c *WANConnection) DeletePortMappingRange(ctx context.Context, start, end uint16, proto string, manage bool) error {
	if c.Version < 2 {
		return fmt.Errorf("%w: DeletePortMappingRange needs WANIPConnection:2", ErrNotSupported)
	}
	p, err := normProtocol(proto)
	if err != nil {
		return err
	}
	if start > end {
		return fmt.Errorf("upnp: DeletePortMappingRange: start port %d > end port %d", start, end)
	}
	l, err := newLister(ctx, c, ListOptions{Protocols: []string{p}, StartPort: start, EndPort: end, Manage: manage})
	if err != nil {
		return err
	}
	if err := l.probeSize(); err != nil {
		return err
	}
	if l.hi < l.limit {
		// The whole table is small: one request cannot hit the bug.
		return c.deletePortMappingRange(ctx, start, end, p, manage)
	}
	if err := l.windowed(); err != nil {
		return err
	}
	var ports []uint16
	for k, pm := range l.known {
		if l.inScope(pm) {
			ports = append(ports, k.port)
		}
	}
	if len(ports) == 0 {
		return c.deletePortMappingRange(ctx, start, end, p, manage)
	}
	slices.Sort(ports)
	for i := 0; i < len(ports); i += l.limit {
		j := min(i+l.limit, len(ports)) - 1
		err := c.deletePortMappingRange(ctx, ports[i], ports[j], p, manage)
		if err != nil && !errors.Is(err, ErrPortMappingNotFound) {
			return err
		}
	}
	return nil
}
