package upnp

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// PortMapping is one WANIPConnection / WANPPPConnection port mapping.
type PortMapping struct {
	// RemoteHost restricts the mapping to one sender; the zero Addr means
	// any (sent as the empty string).
	RemoteHost netip.Addr
	// ExternalPort is the port on the gateway's external address.
	ExternalPort uint16
	// Protocol is "TCP" or "UDP". It is always sent upper-cased: some
	// routers (e.g. several Linksys and TP-Link firmwares) reject "tcp".
	Protocol string
	// InternalPort is the port on InternalClient.
	InternalPort uint16
	// InternalClient is the LAN host receiving the traffic.
	InternalClient netip.Addr
	// Enabled is whether the mapping is active.
	Enabled bool
	// Description is free text; it is always XML-escaped on the wire.
	Description string
	// LeaseDuration is the remaining lifetime; 0 means permanent (IGDv1)
	// or the device maximum (IGDv2). It is sent in whole seconds.
	LeaseDuration time.Duration
}

// MaxLeaseV2 is the longest lease WANIPConnection:2 allows (one week).
const MaxLeaseV2 = 604800 * time.Second

// ErrNotSupported is returned, without contacting the device, for an action
// the service version lacks (e.g. AddAnyPortMapping on WANIPConnection:1).
var ErrNotSupported = errors.New("upnp: action not supported by this service version")

// normProtocol upper-cases and checks a transport protocol name.
func normProtocol(p string) (string, error) {
	u := strings.ToUpper(strings.TrimSpace(p))
	if u != "TCP" && u != "UDP" {
		return "", fmt.Errorf("upnp: protocol %q is not TCP or UDP", p)
	}
	return u, nil
}

// hostArg renders an optional remote host: zero Addr is the wildcard "".
func hostArg(a netip.Addr) string {
	if !a.IsValid() || a.IsUnspecified() {
		return ""
	}
	return a.Unmap().String()
}

func boolArg(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// leaseArg converts a lease to whole seconds, checking the IGDv2 limit.
func (c *WANConnection) leaseArg(d time.Duration) (string, error) {
	if d < 0 {
		return "", fmt.Errorf("%w: negative lease %v", ErrInvalidLease, d)
	}
	if c.Version >= 2 && d > MaxLeaseV2 {
		return "", fmt.Errorf("%w: lease %v exceeds the IGDv2 maximum of %v", ErrInvalidLease, d, MaxLeaseV2)
	}
	s := int64((d + time.Second - 1) / time.Second) // round up: never shorter than asked
	if s > 1<<32-1 {
		return "", fmt.Errorf("%w: lease %v too long", ErrInvalidLease, d)
	}
	return strconv.FormatInt(s, 10), nil
}

// mappingArgs returns AddPortMapping / AddAnyPortMapping arguments in the
// order of the WANIPConnection specification.
func (c *WANConnection) mappingArgs(pm PortMapping) ([]soapArg, error) {
	proto, err := normProtocol(pm.Protocol)
	if err != nil {
		return nil, err
	}
	if !pm.InternalClient.IsValid() {
		return nil, errors.New("upnp: InternalClient is required")
	}
	lease, err := c.leaseArg(pm.LeaseDuration)
	if err != nil {
		return nil, err
	}
	return []soapArg{
		{"NewRemoteHost", hostArg(pm.RemoteHost)},
		{"NewExternalPort", strconv.Itoa(int(pm.ExternalPort))},
		{"NewProtocol", proto},
		{"NewInternalPort", strconv.Itoa(int(pm.InternalPort))},
		{"NewInternalClient", pm.InternalClient.Unmap().String()},
		{"NewEnabled", boolArg(pm.Enabled)},
		{"NewPortMappingDescription", pm.Description},
		{"NewLeaseDuration", lease},
	}, nil
}

// AddPortMapping creates or updates a mapping. It does no quirk handling;
// see AddPortMappingWithFallbacks. On IGDv2 a lease above MaxLeaseV2 is an
// error wrapping ErrInvalidLease.
func (c *WANConnection) AddPortMapping(ctx context.Context, pm PortMapping) error {
	args, err := c.mappingArgs(pm)
	if err != nil {
		return err
	}
	_, err = c.soap.call(ctx, "AddPortMapping", args, maxSOAPReply)
	return err
}

// AddAnyPortMapping (IGDv2) maps pm, letting the gateway pick another
// external port if pm.ExternalPort is taken, and returns the port it chose.
func (c *WANConnection) AddAnyPortMapping(ctx context.Context, pm PortMapping) (uint16, error) {
	if c.Version < 2 {
		return 0, fmt.Errorf("%w: AddAnyPortMapping needs WANIPConnection:2", ErrNotSupported)
	}
	args, err := c.mappingArgs(pm)
	if err != nil {
		return 0, err
	}
	r, err := c.soap.call(ctx, "AddAnyPortMapping", args, maxSOAPReply)
	if err != nil {
		return 0, err
	}
	v, err := r.require("NewReservedPort")
	if err != nil {
		return 0, err
	}
	p, err := strconv.ParseUint(v, 10, 16)
	if err != nil || p == 0 {
		return 0, fmt.Errorf("%w: AddAnyPortMapping: NewReservedPort %q", ErrMalformedResponse, v)
	}
	return uint16(p), nil
}

// DeletePortMapping removes the mapping of extPort/proto (remoteHost zero
// for the wildcard).
func (c *WANConnection) DeletePortMapping(ctx context.Context, remoteHost netip.Addr, extPort uint16, proto string) error {
	p, err := normProtocol(proto)
	if err != nil {
		return err
	}
	_, err = c.soap.call(ctx, "DeletePortMapping", []soapArg{
		{"NewRemoteHost", hostArg(remoteHost)},
		{"NewExternalPort", strconv.Itoa(int(extPort))},
		{"NewProtocol", p},
	}, maxSOAPReply)
	return err
}

// deletePortMappingRange sends one DeletePortMappingRange request.
func (c *WANConnection) deletePortMappingRange(ctx context.Context, start, end uint16, proto string, manage bool) error {
	_, err := c.soap.call(ctx, "DeletePortMappingRange", []soapArg{
		{"NewStartPort", strconv.Itoa(int(start))},
		{"NewEndPort", strconv.Itoa(int(end))},
		{"NewProtocol", proto},
		{"NewManage", boolArg(manage)},
	}, maxSOAPReply)
	return err
}

// GetSpecificPortMappingEntry returns the mapping of extPort/proto. A
// missing one fails with 714 NoSuchEntryInArray.
func (c *WANConnection) GetSpecificPortMappingEntry(ctx context.Context, remoteHost netip.Addr, extPort uint16, proto string) (PortMapping, error) {
	p, err := normProtocol(proto)
	if err != nil {
		return PortMapping{}, err
	}
	r, err := c.soap.call(ctx, "GetSpecificPortMappingEntry", []soapArg{
		{"NewRemoteHost", hostArg(remoteHost)},
		{"NewExternalPort", strconv.Itoa(int(extPort))},
		{"NewProtocol", p},
	}, maxSOAPReply)
	if err != nil {
		return PortMapping{}, err
	}
	pm, err := mappingFromFields(r.get)
	if err != nil {
		return PortMapping{}, fmt.Errorf("%w: GetSpecificPortMappingEntry: %v", ErrMalformedResponse, err)
	}
	pm.RemoteHost, pm.ExternalPort, pm.Protocol = remoteHost, extPort, p
	return pm, nil
}

// GetGenericPortMappingEntry returns the mapping at index (0-based) of the
// device's table. Past the end devices answer 713
// SpecifiedArrayIndexInvalid (some send 714 or 402).
func (c *WANConnection) GetGenericPortMappingEntry(ctx context.Context, index int) (PortMapping, error) {
	if index < 0 || index > 65535 {
		return PortMapping{}, fmt.Errorf("upnp: GetGenericPortMappingEntry: index %d out of range", index)
	}
	r, err := c.soap.call(ctx, "GetGenericPortMappingEntry", []soapArg{
		{"NewPortMappingIndex", strconv.Itoa(index)},
	}, maxSOAPReply)
	if err != nil {
		return PortMapping{}, err
	}
	pm, err := mappingFromFields(r.get)
	if err != nil {
		return PortMapping{}, fmt.Errorf("%w: GetGenericPortMappingEntry: %v", ErrMalformedResponse, err)
	}
	return pm, nil
}

// mappingFromFields builds a PortMapping from reply fields. Absent fields
// stay zero; GetSpecificPortMappingEntry replies omit the key fields.
// Lease is NewLeaseDuration in action replies and NewLeaseTime in
// PortMappingList entries; description is NewPortMappingDescription or
// NewDescription likewise.
func mappingFromFields(get func(string) (string, bool)) (PortMapping, error) {
	var pm PortMapping
	field := func(name string) string {
		v, _ := get(name)
		return strings.TrimSpace(v)
	}
	if v := field("NewRemoteHost"); v != "" && v != "*" {
		a, err := netip.ParseAddr(v)
		if err != nil {
			return pm, fmt.Errorf("bad NewRemoteHost %q", v)
		}
		pm.RemoteHost = a.Unmap()
	}
	if v := field("NewExternalPort"); v != "" {
		n, err := strconv.ParseUint(v, 10, 16)
		if err != nil {
			return pm, fmt.Errorf("bad NewExternalPort %q", v)
		}
		pm.ExternalPort = uint16(n)
	}
	pm.Protocol = strings.ToUpper(field("NewProtocol"))
	if v := field("NewInternalPort"); v != "" {
		n, err := strconv.ParseUint(v, 10, 16)
		if err != nil {
			return pm, fmt.Errorf("bad NewInternalPort %q", v)
		}
		pm.InternalPort = uint16(n)
	}
	if v := field("NewInternalClient"); v != "" {
		a, err := netip.ParseAddr(v)
		if err != nil {
			return pm, fmt.Errorf("bad NewInternalClient %q", v)
		}
		pm.InternalClient = a.Unmap()
	}
	pm.Enabled = soapBool(field("NewEnabled"))
	if v, ok := get("NewPortMappingDescription"); ok {
		pm.Description = v
	} else if v, ok := get("NewDescription"); ok {
		pm.Description = v
	}
	lease := field("NewLeaseDuration")
	if lease == "" {
		lease = field("NewLeaseTime")
	}
	if lease != "" {
		n, err := strconv.ParseUint(lease, 10, 32)
		if err != nil {
			return pm, fmt.Errorf("bad lease %q", lease)
		}
		pm.LeaseDuration = time.Duration(n) * time.Second
	}
	return pm, nil
}
