package portmaptest

import (
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/portmap-dev/portmap/pcp"
	"github.com/portmap-dev/portmap/upnp"
)

func TestPinholes(t *testing.T) {
	gw := NewGateway(t)
	fw := discover(t, gw).Firewall
	ctx := testCtx(t)
	st, err := fw.GetFirewallStatus(ctx)
	if err != nil || !st.FirewallEnabled || !st.InboundPinholeAllowed {
		t.Fatalf("GetFirewallStatus = %+v, %v", st, err)
	}
	p := upnp.Pinhole{InternalClient: netip.MustParseAddr(lanHost6), InternalPort: 8080, Protocol: "TCP", LeaseTime: time.Hour}
	id, err := fw.AddPinhole(ctx, p)
	if err != nil || id != 1 {
		t.Fatalf("AddPinhole = %d, %v", id, err)
	}
	if again, err := fw.AddPinhole(ctx, p); err != nil || again != id {
		t.Fatalf("same pinhole again = %d, %v; want the same ID", again, err)
	}
	if _, err := fw.CheckPinholeWorking(ctx, id); !errors.Is(err, upnp.ErrNoPacketSent) {
		t.Fatalf("CheckPinholeWorking before traffic: %v, want 709", err)
	}
	if !gw.SetPinholePackets(id, 3) {
		t.Fatal("SetPinholePackets: no such pinhole")
	}
	if ok, err := fw.CheckPinholeWorking(ctx, id); err != nil || !ok {
		t.Fatalf("CheckPinholeWorking = %v, %v", ok, err)
	}
	if n, err := fw.GetPinholePackets(ctx, id); err != nil || n != 3 {
		t.Fatalf("GetPinholePackets = %d, %v", n, err)
	}
	if err := fw.UpdatePinhole(ctx, id, 2*time.Hour); err != nil {
		t.Fatal(err)
	}
	ph := gw.Pinholes()
	if len(ph) != 1 || ph[0].Lifetime != 2*time.Hour || ph[0].IPProtocol != 6 || ph[0].Protocol != UPnP {
		t.Fatalf("table %+v", ph)
	}
	if d, err := fw.GetOutboundPinholeTimeout(ctx, p); err != nil || d != outboundTimeout*time.Second {
		t.Fatalf("GetOutboundPinholeTimeout = %v, %v", d, err)
	}
	if err := fw.DeletePinhole(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := fw.DeletePinhole(ctx, id); !errors.Is(err, upnp.ErrNoSuchEntry) {
		t.Fatalf("second delete: %v, want 704", err)
	}
	if _, err := fw.AddPinhole(ctx, upnp.Pinhole{InternalClient: netip.MustParseAddr("10.0.0.1"), InternalPort: 1, Protocol: "TCP", LeaseTime: time.Hour}); !errors.Is(err, upnp.ErrInvalidArgs) {
		t.Fatalf("IPv4 internal client: %v, want 402", err)
	}
	if _, err := fw.AddPinhole(ctx, upnp.Pinhole{InternalClient: netip.MustParseAddr(lanHost6), InternalPort: 1, Protocol: "47", LeaseTime: time.Hour}); !errors.Is(err, upnp.ErrProtocolNotSupported) {
		t.Fatalf("GRE: %v, want 705", err)
	}
	gw.SetFirewallStatus(true, false)
	if _, err := fw.AddPinhole(ctx, p); !errors.Is(err, upnp.ErrInboundPinholeNotAllowed) {
		t.Fatalf("inbound not allowed: %v, want 703", err)
	}
	gw.SetFirewallStatus(false, false)
	if _, err := fw.AddPinhole(ctx, p); !errors.Is(err, upnp.ErrFirewallDisabled) {
		t.Fatalf("firewall off: %v, want 702", err)
	}
}

// listen6 skips the test when IPv6 loopback is unavailable.
func listen6(t *testing.T) {
	t.Helper()
	c, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback})
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	c.Close()
}

func TestPinholesOverIPv6SecureMode(t *testing.T) {
	listen6(t)
	gw := NewGateway(t, WithListen(netip.MustParseAddrPort("[::1]:0")), WithSecureMode())
	igd := discover(t, gw)
	fw := upnp.NewFirewallControl(igd.Firewall.Service, upnp.NewHTTPClient(netip.IPv6Loopback()))
	ctx := testCtx(t)
	if _, err := fw.AddPinhole(ctx, upnp.Pinhole{InternalClient: netip.IPv6Loopback(), InternalPort: 80, Protocol: "TCP", LeaseTime: time.Minute}); err != nil {
		t.Fatalf("pinhole for the caller: %v", err)
	}
	if _, err := fw.AddPinhole(ctx, upnp.Pinhole{InternalClient: netip.MustParseAddr(lanHost6), InternalPort: 80, Protocol: "TCP", LeaseTime: time.Minute}); !errors.Is(err, upnp.ErrActionNotAuthorized) {
		t.Fatalf("pinhole for another host: %v, want 606", err)
	}
	// PCP over IPv6 opens a pinhole too, external = internal.
	c := pcpClient(t, gw)
	m, err := c.Map(ctx, pcp.MapRequest{Protocol: pcp.UDP, InternalPort: 5000, Lifetime: time.Hour})
	if err != nil || m.External != netip.AddrPortFrom(netip.IPv6Loopback(), 5000) {
		t.Fatalf("PCP MAP over IPv6 = %+v, %v", m, err)
	}
	ph := gw.Pinholes()
	if len(ph) != 2 || ph[1].Protocol != PCP || ph[1].Nonce != m.Nonce || ph[1].IPProtocol != 17 {
		t.Fatalf("pinholes %+v", ph)
	}
	if err := c.Delete(ctx, m); err != nil {
		t.Fatal(err)
	}
	if len(gw.Pinholes()) != 1 || len(gw.Mappings()) != 0 {
		t.Fatalf("after delete: %+v %+v", gw.Pinholes(), gw.Mappings())
	}
}
