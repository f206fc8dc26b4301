package upnp

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// CommonInterfaceConfig controls a WANCommonInterfaceConfig:1 service:
// link properties and traffic counters.
type CommonInterfaceConfig struct {
	// Service is the WANCommonInterfaceConfig service.
	Service Service

	soap soapClient
}

// NewCommonInterfaceConfig returns a client for svc. hc nil means a default
// client (see NewHTTPClient); a caller's hc is used as NewWANConnection
// describes (no redirects, bounded response headers).
func NewCommonInterfaceConfig(svc Service, hc *http.Client) *CommonInterfaceConfig {
	return &CommonInterfaceConfig{Service: svc, soap: newSOAPClient(svc, hc)}
}

// LinkProperties is the reply of GetCommonLinkProperties.
type LinkProperties struct {
	// WANAccessType is e.g. "DSL", "Cable", "Ethernet", "POTS".
	WANAccessType string
	// UpstreamMaxBitRate and DownstreamMaxBitRate are in bit/s.
	UpstreamMaxBitRate, DownstreamMaxBitRate uint64
	// PhysicalLinkStatus is e.g. "Up", "Down".
	PhysicalLinkStatus string
}

// Counters are the WAN interface's traffic totals. The specification makes
// them ui4, so they wrap at 2^32 on most devices.
type Counters struct {
	BytesSent, BytesReceived     uint64
	PacketsSent, PacketsReceived uint64
}

// GetCommonLinkProperties returns the link type, speeds and status.
func (c *CommonInterfaceConfig) GetCommonLinkProperties(ctx context.Context) (LinkProperties, error) {
	r, err := c.soap.call(ctx, "GetCommonLinkProperties", nil, maxSOAPReply)
	if err != nil {
		return LinkProperties{}, err
	}
	var lp LinkProperties
	lp.WANAccessType, _ = r.get("NewWANAccessType")
	lp.PhysicalLinkStatus, _ = r.get("NewPhysicalLinkStatus")
	lp.WANAccessType = strings.TrimSpace(lp.WANAccessType)
	lp.PhysicalLinkStatus = strings.TrimSpace(lp.PhysicalLinkStatus)
	if v, ok := r.get("NewLayer1UpstreamMaxBitRate"); ok {
		lp.UpstreamMaxBitRate, _ = parseCounter(v)
	}
	if v, ok := r.get("NewLayer1DownstreamMaxBitRate"); ok {
		lp.DownstreamMaxBitRate, _ = parseCounter(v)
	}
	return lp, nil
}

// parseCounter reads an unsigned counter. Negative values are 32-bit
// counters printed as signed integers (seen on some Broadcom-based DSL
// routers after 2 GiB): they are converted back to their unsigned value.
func parseCounter(s string) (uint64, error) {
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseUint(s, 10, 64); err == nil {
		return n, nil
	}
	n, err := strconv.ParseInt(s, 10, 32)
	if err != nil {
		return 0, err
	}
	return uint64(uint32(int32(n))), nil
}

func (c *CommonInterfaceConfig) counter(ctx context.Context, action, arg string) (uint64, error) {
	r, err := c.soap.call(ctx, action, nil, maxSOAPReply)
	if err != nil {
		return 0, err
	}
	v, err := r.require(arg)
	if err != nil {
		return 0, err
	}
	n, err := parseCounter(v)
	if err != nil {
		return 0, fmt.Errorf("%w: %s: %s %q", ErrMalformedResponse, action, arg, v)
	}
	return n, nil
}

// GetTotalBytesSent returns the bytes sent on the WAN interface.
func (c *CommonInterfaceConfig) GetTotalBytesSent(ctx context.Context) (uint64, error) {
	return c.counter(ctx, "GetTotalBytesSent", "NewTotalBytesSent")
}

// GetTotalBytesReceived returns the bytes received on the WAN interface.
func (c *CommonInterfaceConfig) GetTotalBytesReceived(ctx context.Context) (uint64, error) {
	return c.counter(ctx, "GetTotalBytesReceived", "NewTotalBytesReceived")
}

// GetTotalPacketsSent returns the packets sent on the WAN interface.
func (c *CommonInterfaceConfig) GetTotalPacketsSent(ctx context.Context) (uint64, error) {
	return c.counter(ctx, "GetTotalPacketsSent", "NewTotalPacketsSent")
}

// GetTotalPacketsReceived returns the packets received on the WAN interface.
func (c *CommonInterfaceConfig) GetTotalPacketsReceived(ctx context.Context) (uint64, error) {
	return c.counter(ctx, "GetTotalPacketsReceived", "NewTotalPacketsReceived")
}

// GetCounters reads all four counters (four requests).
func (c *CommonInterfaceConfig) GetCounters(ctx context.Context) (Counters, error) {
	var out Counters
	var err error
	if out.BytesSent, err = c.GetTotalBytesSent(ctx); err != nil {
		return out, err
	}
	if out.BytesReceived, err = c.GetTotalBytesReceived(ctx); err != nil {
		return out, err
	}
	if out.PacketsSent, err = c.GetTotalPacketsSent(ctx); err != nil {
		return out, err
	}
	out.PacketsReceived, err = c.GetTotalPacketsReceived(ctx)
	return out, err
}
