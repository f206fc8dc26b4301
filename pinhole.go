package portmap

import (
	"context"
	"errors"
	"net/netip"
	"time"

	"github.com/portmap-dev/portmap/upnp"
)

// IPv6 firewall pinholes. Over IPv6 there is no NAT to map through, but the
// router's firewall drops unsolicited inbound traffic; a pinhole lets it
// reach one port of one LAN host. UPnP opens them with the IGD's
// WANIPv6FirewallControl service, PCP with a MAP sent over IPv6 to the
// gateway's IPv6 address (RFC 6887 §11: the "IPv6 firewall" case).
// NAT-PMP cannot.

// DefaultPinholeLifetime is the lifetime asked for when a [PinholeRequest]
// names none. It is well inside WANIPv6FirewallControl's 1 s to 86400 s.
const DefaultPinholeLifetime = time.Hour

// MaxPinholeLifetime is the longest lease WANIPv6FirewallControl allows
// (86400 s); UPnP requests for more are sent as this.
const MaxPinholeLifetime = upnp.MaxPinholeLease

// ErrNoIPv6 is matched (with errors.Is) by errors saying that this host has
// no IPv6 path to the gateway: no IPv6 default route, or no IPv6 address
// of its own that a pinhole could open to.
var ErrNoIPv6 = errors.New("no IPv6 path to the gateway")

// PinholeRequest asks for an inbound IPv6 pinhole. The zero values pick
// sensible defaults: TCP, this host's IPv6 address toward the gateway, any
// remote host and port, and [DefaultPinholeLifetime].
type PinholeRequest struct {
	// Transport is TCP (default) or UDP.
	Transport Transport
	// InternalIP is the LAN host's IPv6 address the pinhole opens to. The
	// zero value means this host's address toward the gateway (see
	// [Client.AddPinhole]). Link-local and IPv4 addresses are refused.
	InternalIP netip.Addr
	// InternalPort is the port the pinhole opens. Required.
	InternalPort uint16
	// RemoteIP restricts the senders to one IPv6 host; the zero value (or
	// ::) means any.
	RemoteIP netip.Addr
	// RemotePort restricts the senders' port; zero means any. PCP can
	// filter by port only together with RemoteIP.
	RemotePort uint16
	// Lifetime is the lease asked for; zero means DefaultPinholeLifetime.
	// UPnP allows 1 s to MaxPinholeLifetime (longer requests are sent as
	// the maximum); PCP servers clamp it themselves (miniupnpd: 120 s to
	// 86400 s). The granted lifetime is in Pinhole.Lifetime.
	Lifetime time.Duration
}

// Pinhole is an IPv6 firewall pinhole the gateway opened. Keep it (the
// portmap command records it in a file) to update or delete it: UPnP names
// a pinhole by its ID, PCP by its nonce.
type Pinhole struct {
	// Protocol is the protocol that opened it: UPnP or PCP.
	Protocol Protocol `json:"protocol"`
	// Gateway is the gateway's IPv6 address the pinhole was asked from;
	// updates and deletions go there too.
	Gateway netip.Addr `json:"gateway"`
	// ID is the UPnP UniqueID (zero for PCP).
	ID uint16 `json:"id,omitempty"`
	// Nonce is the PCP mapping nonce (PCP only): PCP renews and deletes
	// only with it.
	Nonce []byte `json:"nonce,omitempty"`
	// Transport is TCP or UDP.
	Transport Transport `json:"transport"`
	// Internal is the LAN host's IPv6 address and the open port.
	Internal netip.AddrPort `json:"internal"`
	// Remote is the sender allowed in: the zero AddrPort means any host and
	// port; an unspecified address (::) with a port means any host from
	// that port; a port of zero means any port.
	Remote netip.AddrPort `json:"remote,omitzero"`
	// Lifetime is the lease the gateway granted.
	Lifetime time.Duration `json:"lifetime"`
	// Expires is when the lease ends.
	Expires time.Time `json:"expires,omitzero"`
}

// RemoteIP is the allowed sender's address, or the zero Addr for any.
func (p Pinhole) RemoteIP() netip.Addr {
	if a := p.Remote.Addr(); a.IsValid() && !a.IsUnspecified() {
		return a
	}
	return netip.Addr{}
}

// PinholeStatus is what [Client.CheckPinhole] learnt about a pinhole.
type PinholeStatus struct {
	// Working reports whether the gateway has seen traffic pass through
	// the pinhole (UPnP CheckPinholeWorking).
	Working bool `json:"working"`
	// Packets is how many packets went through (UPnP GetPinholePackets).
	// miniupnpd 2.3.1's nftables backend keeps no per-pinhole counters and
	// always reports 0 (and Working false), traffic or not.
	Packets uint32 `json:"packets"`
}

// AddPinhole asks the gateway to open an inbound IPv6 pinhole and returns
// what it granted. NAT-PMP cannot; a UPnP gateway without
// WANIPv6FirewallControl neither: both give a *[NotSupportedError].
// Errors from the gateway pass through as the protocol packages' typed
// errors (*upnp.SOAPError, *pcp.ResultError).
//
// The requests go over IPv6 to the gateway's IPv6 address, from this
// host's IPv6 address (miniupnpd accepts pinhole requests only from the
// pinhole's own address, and PCP maps for the sender). The gateway's IPv6
// address is, in order: the Client's gateway if it is IPv6
// (Options.Gateway); else the IPv6 default router on Options.Interface if
// set; else the IPv6 default router on the interface of the IPv4 gateway,
// or the first IPv6 default router. (UpdatePinhole, DeletePinhole and
// CheckPinhole use the pinhole's own Gateway.) A test gateway
// (Options.GatewayPort set, or a loopback address) is only ever reached at
// its own address: start it on [::1] for pinholes. This host's address is
// Options.LocalAddr if it is IPv6, else the one the system uses toward
// that router; when the router is a link-local address (as routers
// announce themselves), a global address of that interface, global
// unicast before ULA. Without them the error matches [ErrNoIPv6].
//
// A request for another address of this host (InternalIP) is sent from
// that address. One for another host is sent from this host's: UPnP
// gateways in secure mode refuse it (606), and PCP sends it as
// THIRD_PARTY, which miniupnpd refuses unless configured to allow it.
//
// Each call opens its own HTTP connection or PCP socket over IPv6 and
// closes it before returning.
func (c *Client) AddPinhole(ctx context.Context, req PinholeRequest) (Pinhole, error) {
	if err := c.pinholeProtocol(); err != nil {
		return Pinhole{}, err
	}
	req, err := completePinholeRequest(req)
	if err != nil {
		return Pinhole{}, err
	}
	path, err := c.ipv6Path(netip.Addr{})
	if err != nil {
		return Pinhole{}, err
	}
	if !req.InternalIP.IsValid() {
		req.InternalIP = path.local
	}
	from := path.sourceFor(req.InternalIP)
	c.opts.logger().Debug("pinhole: add", "protocol", c.Protocol(), "gateway", path.gateway, "from", from,
		"internal", netip.AddrPortFrom(req.InternalIP, req.InternalPort), "transport", req.Transport)
	switch b := c.b.(type) {
	case *upnpBackend:
		return c.upnpAddPinhole(ctx, b, path, from, req)
	case *pcpBackend:
		return c.pcpAddPinhole(ctx, path, from, req)
	}
	return Pinhole{}, c.pinholeProtocol()
}

// UpdatePinhole renews a pinhole for another lifetime (zero: the one it
// was granted, or DefaultPinholeLifetime). p must come from the same
// protocol as the Client's.
//
// Quirk (miniupnpd 2.3.1): once a PCP pinhole has been renewed, the server
// refuses its deletion (see DeletePinhole).
func (c *Client) UpdatePinhole(ctx context.Context, p Pinhole, lifetime time.Duration) (Pinhole, error) {
	if err := c.checkPinhole(p); err != nil {
		return Pinhole{}, err
	}
	if lifetime < 0 {
		return Pinhole{}, invalidf("negative lifetime %v", lifetime)
	}
	if lifetime == 0 {
		lifetime = p.Lifetime
	}
	if lifetime == 0 {
		lifetime = DefaultPinholeLifetime
	}
	path, err := c.ipv6Path(p.Gateway)
	if err != nil {
		return Pinhole{}, err
	}
	switch b := c.b.(type) {
	case *upnpBackend:
		fw, done, err := upnpFirewall(b, path, path.sourceFor(p.Internal.Addr()))
		if err != nil {
			return Pinhole{}, err
		}
		defer done()
		lease := upnpPinholeLease(lifetime)
		if err := fw.UpdatePinhole(ctx, p.ID, lease); err != nil {
			return Pinhole{}, err
		}
		p.Gateway, p.Lifetime, p.Expires = path.gateway, lease, time.Now().Add(lease)
		return p, nil
	case *pcpBackend:
		pc, m, err := c.pcpPinholeMapping(path, p)
		if err != nil {
			return Pinhole{}, err
		}
		defer pc.Close()
		nm, err := pc.Renew(ctx, m, lifetime)
		if err != nil {
			return Pinhole{}, err
		}
		return pcpPinhole(path, p.Transport, nm, p.Remote), nil
	}
	return Pinhole{}, c.pinholeProtocol()
}

// DeletePinhole closes a pinhole. p must come from the same protocol as
// the Client's.
//
// Quirk (miniupnpd 2.3.1): a PCP pinhole that was renewed can no longer be
// deleted (NOT_AUTHORIZED); its lifetime is then cut to the minimum the
// server grants (2 s there, measured) and the error matches
// pcp.ErrLifetimeCut: the pinhole closes by itself moments later.
// miniupnpd answers 402 InvalidArgs, not 704 NoSuchEntry, for a UPnP ID it
// does not know (deleted, or expired).
func (c *Client) DeletePinhole(ctx context.Context, p Pinhole) error {
	if err := c.checkPinhole(p); err != nil {
		return err
	}
	path, err := c.ipv6Path(p.Gateway)
	if err != nil {
		return err
	}
	switch b := c.b.(type) {
	case *upnpBackend:
		fw, done, err := upnpFirewall(b, path, path.sourceFor(p.Internal.Addr()))
		if err != nil {
			return err
		}
		defer done()
		return fw.DeletePinhole(ctx, p.ID)
	case *pcpBackend:
		pc, m, err := c.pcpPinholeMapping(path, p)
		if err != nil {
			return err
		}
		defer pc.Close()
		return pc.Delete(ctx, m)
	}
	return c.pinholeProtocol()
}

// CheckPinhole asks whether traffic has passed through a UPnP pinhole and
// how many packets. An error means the gateway does not know the pinhole
// (any more) or refused to say. PCP has no such request: its error is a
// *[NotSupportedError].
func (c *Client) CheckPinhole(ctx context.Context, p Pinhole) (PinholeStatus, error) {
	if err := c.checkPinhole(p); err != nil {
		return PinholeStatus{}, err
	}
	b, ok := c.b.(*upnpBackend)
	if !ok {
		return PinholeStatus{}, &NotSupportedError{Protocol: c.Protocol(), Operation: "check pinholes"}
	}
	path, err := c.ipv6Path(p.Gateway)
	if err != nil {
		return PinholeStatus{}, err
	}
	fw, done, err := upnpFirewall(b, path, path.sourceFor(p.Internal.Addr()))
	if err != nil {
		return PinholeStatus{}, err
	}
	defer done()
	var st PinholeStatus
	st.Working, err = fw.CheckPinholeWorking(ctx, p.ID)
	if errors.Is(err, upnp.ErrNoPacketSent) {
		// 709 is the answer "it exists, but nothing came through yet".
		st.Working, err = false, nil
	}
	if err != nil {
		return PinholeStatus{}, err
	}
	st.Packets, err = fw.GetPinholePackets(ctx, p.ID)
	if errors.Is(err, upnp.ErrInvalidAction) || errors.Is(err, upnp.ErrOptionalNotSupported) {
		// The packet counter is optional; the check above answered.
		err = nil
	}
	if err != nil {
		return PinholeStatus{}, err
	}
	return st, nil
}

// pinholeProtocol says whether the Client's protocol can open pinholes.
func (c *Client) pinholeProtocol() error {
	switch b := c.b.(type) {
	case *upnpBackend:
		if b.igd.Firewall == nil {
			return &NotSupportedError{Protocol: UPnP, Operation: "open IPv6 pinholes: the gateway's IGD has no WANIPv6FirewallControl service"}
		}
		return nil
	case *pcpBackend:
		if b.fallback.natpmp() != nil {
			// NAT-PMP has neither IPv6 nor pinholes, and a gateway that
			// answered PCP as a NAT-PMP-only router refuses PCP over
			// IPv6 too.
			return &NotSupportedError{Protocol: NATPMP, Operation: "open IPv6 pinholes: the gateway stopped speaking PCP (it answers as a NAT-PMP-only router)"}
		}
		return nil
	}
	return &NotSupportedError{Protocol: c.Protocol(), Operation: "open IPv6 pinholes"}
}

// checkPinhole checks that p can be managed by this Client.
func (c *Client) checkPinhole(p Pinhole) error {
	speaks := c.Protocol()
	if _, ok := c.b.(*pcpBackend); ok {
		// A pinhole made with PCP stays PCP's after the Client switched
		// to NAT-PMP (see pcpFallback): it is renewed and deleted over
		// IPv6 with its nonce, if the gateway still accepts that.
		speaks = PCP
	} else if err := c.pinholeProtocol(); err != nil {
		return err
	}
	if p.Protocol != speaks {
		return invalidf("the pinhole was opened with %s, and this client speaks %s", p.Protocol, speaks)
	}
	if p.Protocol == UPnP && p.ID == 0 {
		return invalidf("a UPnP pinhole needs its ID")
	}
	return nil
}

// completePinholeRequest checks a request and fills in its defaults, except
// InternalIP, which needs the path to the gateway.
func completePinholeRequest(req PinholeRequest) (PinholeRequest, error) {
	if req.InternalPort == 0 {
		return req, invalidf("internal port 0: a port is 1 to 65535")
	}
	switch req.Transport {
	case "":
		req.Transport = TCP
	case TCP, UDP:
	default:
		return req, invalidf("unknown transport %q (want tcp or udp)", req.Transport)
	}
	if a := req.InternalIP; a.IsValid() {
		switch {
		case !a.Is6() || a.Is4In6():
			return req, invalidf("pinholes are for IPv6 addresses, not %s", a)
		case a.IsLinkLocalUnicast(), a.IsMulticast(), a.IsUnspecified():
			return req, invalidf("%s cannot be reached from the internet: give a global IPv6 address", a)
		}
		req.InternalIP = a.WithZone("")
	}
	if a := req.RemoteIP; a.IsValid() {
		switch {
		case a.IsUnspecified():
			req.RemoteIP = netip.Addr{}
		case !a.Is6() || a.Is4In6():
			return req, invalidf("remote %s: pinholes let IPv6 senders in, not IPv4", a)
		case a.IsMulticast():
			return req, invalidf("remote %s is a multicast address", a)
		}
	}
	if req.Lifetime < 0 {
		return req, invalidf("negative lifetime %v", req.Lifetime)
	}
	if req.Lifetime == 0 {
		req.Lifetime = DefaultPinholeLifetime
	}
	return req, nil
}

// remoteAddrPort packs a remote restriction into Pinhole.Remote.
func remoteAddrPort(ip netip.Addr, port uint16) netip.AddrPort {
	if !ip.IsValid() && port == 0 {
		return netip.AddrPort{}
	}
	if !ip.IsValid() {
		ip = netip.IPv6Unspecified()
	}
	return netip.AddrPortFrom(ip, port)
}
