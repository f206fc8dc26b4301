package upnp

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// WANConnection controls one WAN connection service of an IGD:
// WANIPConnection:1 or :2, or WANPPPConnection:1 (also the
// urn:dslforum-org variants used by TR-064 devices such as AVM FRITZ!Box).
// The PPP service has the same port-mapping actions as the IP one.
type WANConnection struct {
	// Service is the service this connection talks to.
	Service Service
	// Version is the service version from the type URN (1 or 2). Actions
	// added in WANIPConnection:2 (AddAnyPortMapping, DeletePortMappingRange,
	// GetListOfPortMappings) are only attempted when Version >= 2.
	Version int

	soap soapClient
}

// NewWANConnection returns a client for svc. hc nil means a default client
// with timeouts and no proxy (see NewHTTPClient). A caller's hc is used
// with redirects never followed (a redirect is an *HTTPError matching
// ErrUnsafeURL) and, when its Transport is an *http.Transport, with
// response headers bounded to 16 KiB (through a clone of the transport,
// made once per transport); hc itself is not modified.
func NewWANConnection(svc Service, hc *http.Client) *WANConnection {
	return &WANConnection{Service: svc, Version: serviceVersion(svc.Type), soap: newSOAPClient(svc, hc)}
}

// IsPPP reports whether this is a WANPPPConnection service.
func (c *WANConnection) IsPPP() bool {
	return strings.Contains(c.Service.Type, ":WANPPPConnection:")
}

// serviceVersion returns the trailing version number of a service type URN
// ("urn:schemas-upnp-org:service:WANIPConnection:2" -> 2), or 1 when it has
// none.
func serviceVersion(urn string) int {
	i := strings.LastIndexByte(urn, ':')
	if i < 0 {
		return 1
	}
	v, err := strconv.Atoi(urn[i+1:])
	if err != nil || v < 1 {
		return 1
	}
	return v
}

// StatusInfo is the reply of GetStatusInfo.
type StatusInfo struct {
	// ConnectionStatus is e.g. "Connected", "Disconnected", "Connecting".
	ConnectionStatus string
	// LastConnectionError is e.g. "ERROR_NONE".
	LastConnectionError string
	// Uptime is how long the connection has been up.
	Uptime time.Duration
}

// Connected reports whether ConnectionStatus is "Connected".
func (s StatusInfo) Connected() bool { return strings.EqualFold(s.ConnectionStatus, "Connected") }

// GetStatusInfo returns the connection status.
func (c *WANConnection) GetStatusInfo(ctx context.Context) (StatusInfo, error) {
	r, err := c.soap.call(ctx, "GetStatusInfo", nil, maxSOAPReply)
	if err != nil {
		return StatusInfo{}, err
	}
	st, err := r.require("NewConnectionStatus")
	if err != nil {
		return StatusInfo{}, err
	}
	info := StatusInfo{ConnectionStatus: st}
	info.LastConnectionError, _ = r.get("NewLastConnectionError")
	info.LastConnectionError = strings.TrimSpace(info.LastConnectionError)
	if up, ok := r.get("NewUptime"); ok {
		// Uptime is ui4 seconds; tolerate garbage (some routers send "").
		if n, err := strconv.ParseUint(strings.TrimSpace(up), 10, 32); err == nil {
			info.Uptime = time.Duration(n) * time.Second
		}
	}
	return info, nil
}

// GetExternalIPAddress returns the connection's external address. An empty,
// unspecified ("0.0.0.0", which routers send while disconnected) or
// unparsable value is an error wrapping ErrNoExternalAddress. A private
// address (double NAT) is returned as is; check it with Addr.IsPrivate.
func (c *WANConnection) GetExternalIPAddress(ctx context.Context) (netip.Addr, error) {
	r, err := c.soap.call(ctx, "GetExternalIPAddress", nil, maxSOAPReply)
	if err != nil {
		return netip.Addr{}, err
	}
	v, err := r.require("NewExternalIPAddress")
	if err != nil {
		return netip.Addr{}, err
	}
	if v == "" {
		return netip.Addr{}, fmt.Errorf("%w: device returned an empty address", ErrNoExternalAddress)
	}
	a, err := netip.ParseAddr(v)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%w: %q: %v", ErrNoExternalAddress, v, err)
	}
	a = a.Unmap()
	if a.IsUnspecified() {
		return netip.Addr{}, fmt.Errorf("%w: device returned %s", ErrNoExternalAddress, a)
	}
	return a, nil
}

// ConnectionTypeInfo is the reply of GetConnectionTypeInfo.
type ConnectionTypeInfo struct {
	// ConnectionType is e.g. "IP_Routed" or "IP_Bridged".
	ConnectionType string
	// PossibleConnectionTypes is the comma-separated list from the device.
	PossibleConnectionTypes string
}

// GetConnectionTypeInfo returns the connection type.
func (c *WANConnection) GetConnectionTypeInfo(ctx context.Context) (ConnectionTypeInfo, error) {
	r, err := c.soap.call(ctx, "GetConnectionTypeInfo", nil, maxSOAPReply)
	if err != nil {
		return ConnectionTypeInfo{}, err
	}
	t, err := r.require("NewConnectionType")
	if err != nil {
		return ConnectionTypeInfo{}, err
	}
	p, _ := r.get("NewPossibleConnectionTypes")
	return ConnectionTypeInfo{ConnectionType: t, PossibleConnectionTypes: strings.TrimSpace(p)}, nil
}
