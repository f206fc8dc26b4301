package upnp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// FirewallControl controls a WANIPv6FirewallControl:1 service: inbound IPv6
// pinholes. The device only accepts calls that arrive over IPv6 from the
// pinhole's internal client address (miniupnpd answers 606 otherwise), so
// give NewFirewallControl a client made by NewHTTPClient(thatAddress).
type FirewallControl struct {
	// Service is the WANIPv6FirewallControl service.
	Service Service

	soap soapClient
}

// NewFirewallControl returns a client for svc. hc nil means a default
// client (see NewHTTPClient); a caller's hc is used as NewWANConnection
// describes (no redirects, bounded response headers).
func NewFirewallControl(svc Service, hc *http.Client) *FirewallControl {
	return &FirewallControl{Service: svc, soap: newSOAPClient(svc, hc)}
}

// NewFirewallControlIPv6 returns a FirewallControl that posts to svc's
// control URL path on gateway6 (the gateway's IPv6 LAN address; the port
// is kept) from local6, the pinholes' internal client address.
// Descriptions usually advertise IPv4 control URLs, but miniupnpd (and the
// specification) only accept pinhole actions arriving over IPv6 from the
// internal client itself: anything else gets 606 ActionNotAuthorized.
func NewFirewallControlIPv6(svc Service, gateway6, local6 netip.Addr) (*FirewallControl, error) {
	if svc.ControlURL == nil {
		return nil, errors.New("upnp: firewall service has no control URL")
	}
	if !gateway6.Is6() || gateway6.Is4In6() || !local6.Is6() || local6.Is4In6() {
		return nil, fmt.Errorf("upnp: NewFirewallControlIPv6: %v and %v must be IPv6 addresses", gateway6, local6)
	}
	u := *svc.ControlURL
	host := gateway6.String()
	if p := u.Port(); p != "" {
		u.Host = net.JoinHostPort(host, p)
	} else {
		u.Host = "[" + host + "]"
	}
	svc.ControlURL = &u
	return NewFirewallControl(svc, NewHTTPClient(local6)), nil
}

// Pinhole lease limits from WANIPv6FirewallControl:1 (LeaseTime is ui4 in
// 1..86400 seconds).
const (
	MinPinholeLease = time.Second
	MaxPinholeLease = 86400 * time.Second
)

// ErrInvalidLease is wrapped when a lease duration is outside what the
// service allows; nothing is sent in that case.
var ErrInvalidLease = errors.New("upnp: lease duration out of range")

// Pinhole describes an inbound IPv6 firewall hole.
type Pinhole struct {
	// RemoteHost restricts the sender; the zero Addr means any.
	RemoteHost netip.Addr
	// RemotePort restricts the sender's port; 0 means any.
	RemotePort uint16
	// InternalClient is the LAN host's IPv6 address (required).
	InternalClient netip.Addr
	// InternalPort is the LAN host's port; 0 means any (often refused).
	InternalPort uint16
	// Protocol is "TCP", "UDP", "UDPLite", a decimal IANA protocol
	// number, or "" for any (65535, often refused).
	Protocol string
	// LeaseTime is between MinPinholeLease and MaxPinholeLease.
	LeaseTime time.Duration
}

// FirewallStatus is the reply of GetFirewallStatus.
type FirewallStatus struct {
	// FirewallEnabled reports whether the IPv6 firewall is on.
	FirewallEnabled bool
	// InboundPinholeAllowed reports whether AddPinhole may succeed.
	InboundPinholeAllowed bool
}

// pinholeProtocol converts a protocol name or number to the ui2 the
// service expects.
func pinholeProtocol(p string) (string, error) {
	switch strings.ToUpper(strings.TrimSpace(p)) {
	case "":
		return "65535", nil
	case "TCP":
		return "6", nil
	case "UDP":
		return "17", nil
	case "UDPLITE":
		return "136", nil
	}
	n, err := strconv.ParseUint(strings.TrimSpace(p), 10, 16)
	if err != nil {
		return "", fmt.Errorf("upnp: unknown pinhole protocol %q", p)
	}
	return strconv.FormatUint(n, 10), nil
}

// pinholeHost renders an optional address: the zero Addr is the empty
// wildcard.
func pinholeHost(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

func pinholeLease(d time.Duration) (string, error) {
	if d < MinPinholeLease || d > MaxPinholeLease {
		return "", fmt.Errorf("%w: pinhole lease %v not in [%v, %v]", ErrInvalidLease, d, MinPinholeLease, MaxPinholeLease)
	}
	return strconv.FormatInt(int64(d/time.Second), 10), nil
}

// GetFirewallStatus reports whether the firewall is on and pinholes allowed.
func (f *FirewallControl) GetFirewallStatus(ctx context.Context) (FirewallStatus, error) {
	r, err := f.soap.call(ctx, "GetFirewallStatus", nil, maxSOAPReply)
	if err != nil {
		return FirewallStatus{}, err
	}
	en, err := r.require("FirewallEnabled")
	if err != nil {
		return FirewallStatus{}, err
	}
	in, err := r.require("InboundPinholeAllowed")
	if err != nil {
		return FirewallStatus{}, err
	}
	return FirewallStatus{FirewallEnabled: soapBool(en), InboundPinholeAllowed: soapBool(in)}, nil
}

// GetOutboundPinholeTimeout returns how long the firewall keeps an idle
// outbound flow matching p open (p.LeaseTime is ignored).
func (f *FirewallControl) GetOutboundPinholeTimeout(ctx context.Context, p Pinhole) (time.Duration, error) {
	proto, err := pinholeProtocol(p.Protocol)
	if err != nil {
		return 0, err
	}
	r, err := f.soap.call(ctx, "GetOutboundPinholeTimeout", []soapArg{
		{"RemoteHost", pinholeHost(p.RemoteHost)},
		{"RemotePort", strconv.Itoa(int(p.RemotePort))},
		{"InternalClient", pinholeHost(p.InternalClient)},
		{"InternalPort", strconv.Itoa(int(p.InternalPort))},
		{"Protocol", proto},
	}, maxSOAPReply)
	if err != nil {
		return 0, err
	}
	v, err := r.require("OutboundPinholeTimeout")
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("%w: GetOutboundPinholeTimeout: %q", ErrMalformedResponse, v)
	}
	return time.Duration(n) * time.Second, nil
}

// AddPinhole opens a pinhole and returns its UniqueID.
func (f *FirewallControl) AddPinhole(ctx context.Context, p Pinhole) (uint16, error) {
	proto, err := pinholeProtocol(p.Protocol)
	if err != nil {
		return 0, err
	}
	lease, err := pinholeLease(p.LeaseTime)
	if err != nil {
		return 0, err
	}
	if !p.InternalClient.IsValid() {
		return 0, errors.New("upnp: AddPinhole: InternalClient is required")
	}
	r, err := f.soap.call(ctx, "AddPinhole", []soapArg{
		{"RemoteHost", pinholeHost(p.RemoteHost)},
		{"RemotePort", strconv.Itoa(int(p.RemotePort))},
		{"InternalClient", p.InternalClient.String()},
		{"InternalPort", strconv.Itoa(int(p.InternalPort))},
		{"Protocol", proto},
		{"LeaseTime", lease},
	}, maxSOAPReply)
	if err != nil {
		return 0, err
	}
	return parseUniqueID(r)
}

func parseUniqueID(r soapReply) (uint16, error) {
	v, err := r.require("UniqueID")
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseUint(v, 10, 16)
	if err != nil {
		return 0, fmt.Errorf("%w: %s: UniqueID %q", ErrMalformedResponse, r.Action, v)
	}
	return uint16(n), nil
}

// UpdatePinhole sets a new lease on pinhole id.
func (f *FirewallControl) UpdatePinhole(ctx context.Context, id uint16, lease time.Duration) error {
	l, err := pinholeLease(lease)
	if err != nil {
		return err
	}
	_, err = f.soap.call(ctx, "UpdatePinhole", []soapArg{
		{"UniqueID", strconv.Itoa(int(id))},
		{"NewLeaseTime", l},
	}, maxSOAPReply)
	return err
}

// DeletePinhole closes pinhole id.
func (f *FirewallControl) DeletePinhole(ctx context.Context, id uint16) error {
	_, err := f.soap.call(ctx, "DeletePinhole", []soapArg{{"UniqueID", strconv.Itoa(int(id))}}, maxSOAPReply)
	return err
}

// CheckPinholeWorking reports whether traffic has passed through pinhole
// id. Devices answer 709 NoPacketSent (ErrNoPacketSent) when none has.
func (f *FirewallControl) CheckPinholeWorking(ctx context.Context, id uint16) (bool, error) {
	r, err := f.soap.call(ctx, "CheckPinholeWorking", []soapArg{{"UniqueID", strconv.Itoa(int(id))}}, maxSOAPReply)
	if err != nil {
		return false, err
	}
	v, err := r.require("IsWorking")
	if err != nil {
		return false, err
	}
	return soapBool(v), nil
}

// GetPinholePackets returns how many packets went through pinhole id.
func (f *FirewallControl) GetPinholePackets(ctx context.Context, id uint16) (uint32, error) {
	r, err := f.soap.call(ctx, "GetPinholePackets", []soapArg{{"UniqueID", strconv.Itoa(int(id))}}, maxSOAPReply)
	if err != nil {
		return 0, err
	}
	v, err := r.require("PinholePackets")
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("%w: GetPinholePackets: %q", ErrMalformedResponse, v)
	}
	return uint32(n), nil
}

// soapBool reads a UPnP boolean ("1", "0", "true", "false", "yes", "no").
func soapBool(s string) bool {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1", "true", "yes":
		return true
	}
	return false
}
