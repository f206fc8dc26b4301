package portmap

import (
	"context"
	"net"
	"net/netip"
	"time"

	"github.com/portmap-dev/portmap/upnp"
)

// upnpPinholeLease fits a lifetime into WANIPv6FirewallControl's range of
// whole seconds.
func upnpPinholeLease(d time.Duration) time.Duration {
	d = (d + time.Second - 1).Truncate(time.Second)
	return min(max(d, upnp.MinPinholeLease), upnp.MaxPinholeLease)
}

func (c *Client) upnpAddPinhole(ctx context.Context, b *upnpBackend, path ipv6Path, from netip.Addr, req PinholeRequest) (Pinhole, error) {
	fw, done, err := upnpFirewall(b, path, from)
	if err != nil {
		return Pinhole{}, err
	}
	defer done()
	lease := upnpPinholeLease(req.Lifetime)
	id, err := fw.AddPinhole(ctx, upnp.Pinhole{
		RemoteHost:     req.RemoteIP,
		RemotePort:     req.RemotePort,
		InternalClient: req.InternalIP,
		InternalPort:   req.InternalPort,
		Protocol:       upnpProto(req.Transport),
		LeaseTime:      lease,
	})
	if err != nil {
		return Pinhole{}, err
	}
	return Pinhole{
		Protocol:  UPnP,
		Gateway:   path.gateway,
		ID:        id,
		Transport: req.Transport,
		Internal:  netip.AddrPortFrom(req.InternalIP, req.InternalPort),
		Remote:    remoteAddrPort(req.RemoteIP, req.RemotePort),
		Lifetime:  lease,
		Expires:   time.Now().Add(lease),
	}, nil
}

// upnpFirewall returns the IGD's WANIPv6FirewallControl service addressed
// at the gateway's IPv6 address, with an HTTP client whose connections
// come from the address from; done closes those connections.
//
// Descriptions advertise an IPv4 control URL, but miniupnpd (in secure
// mode, its default) accepts pinhole actions only over IPv6 from the
// pinhole's internal address (606 ActionNotAuthorized otherwise); it
// serves the same paths on its IPv6 addresses.
func upnpFirewall(b *upnpBackend, path ipv6Path, from netip.Addr) (*upnp.FirewallControl, func(), error) {
	if b.igd.Firewall == nil || b.igd.Firewall.Service.ControlURL == nil {
		return nil, nil, &NotSupportedError{Protocol: UPnP, Operation: "open IPv6 pinholes: the gateway's IGD has no WANIPv6FirewallControl service"}
	}
	svc := b.igd.Firewall.Service
	u := *svc.ControlURL
	if port := u.Port(); port != "" {
		u.Host = net.JoinHostPort(path.gateway.String(), port)
	} else {
		u.Host = "[" + path.gateway.String() + "]"
	}
	svc.ControlURL = &u
	hc := upnp.NewHTTPClient(from)
	return upnp.NewFirewallControl(svc, hc), hc.CloseIdleConnections, nil
}
