package portmap

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/portmap-dev/portmap/internal/netinfo"
	"github.com/portmap-dev/portmap/pcp"
	"github.com/portmap-dev/portmap/portmaptest"
	"github.com/portmap-dev/portmap/upnp"
)

var loopback6 = netip.IPv6Loopback()

// fakeGateway6 starts a portmaptest gateway on [::1] (pinholes need IPv6)
// and returns a client of it speaking protocol p.
func fakeGateway6(t *testing.T, p Protocol, opts ...portmaptest.Option) (*portmaptest.Gateway, *Client) {
	t.Helper()
	if ln, err := net.Listen("tcp6", "[::1]:0"); err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	} else {
		ln.Close()
	}
	opts = append([]portmaptest.Option{portmaptest.WithListen(netip.AddrPortFrom(loopback6, 0))}, opts...)
	gw := portmaptest.NewGateway(t, opts...)
	c := discover(t, Options{Gateway: gw.Addr().Addr(), GatewayPort: gw.Addr().Port(), Protocols: []Protocol{p}})
	if c.Protocol() != p {
		t.Fatalf("discovered %s, want %s", c.Protocol(), p)
	}
	return gw, c
}

// onlyPinhole returns the gateway's single pinhole.
func onlyPinhole(t *testing.T, gw *portmaptest.Gateway) portmaptest.Pinhole {
	t.Helper()
	ps := gw.Pinholes()
	if len(ps) != 1 {
		t.Fatalf("gateway holds %d pinholes, want 1: %+v", len(ps), ps)
	}
	return ps[0]
}

// TestPinholeLifecycle adds, checks, updates and deletes a pinhole with
// each protocol that can, against a gateway in secure mode (as miniupnpd
// runs by default: requests only from the pinhole's own address).
func TestPinholeLifecycle(t *testing.T) {
	for _, p := range []Protocol{UPnP, PCP} {
		t.Run(string(p), func(t *testing.T) {
			gw, c := fakeGateway6(t, p, portmaptest.WithSecureMode())
			ctx := testContext(t)
			ph, err := c.AddPinhole(ctx, PinholeRequest{InternalPort: 8080, Transport: UDP})
			if err != nil {
				t.Fatal(err)
			}
			want := netip.AddrPortFrom(loopback6, 8080)
			if ph.Protocol != p || ph.Gateway != loopback6 || ph.Internal != want || ph.Transport != UDP ||
				ph.Lifetime != DefaultPinholeLifetime || ph.Remote.IsValid() {
				t.Errorf("pinhole %+v", ph)
			}
			if time.Until(ph.Expires) < 59*time.Minute {
				t.Errorf("expires %v", ph.Expires)
			}
			g := onlyPinhole(t, gw)
			if g.InternalClient != loopback6 || g.InternalPort != 8080 || g.IPProtocol != 17 || g.Lifetime != time.Hour {
				t.Errorf("gateway holds %+v", g)
			}
			switch p {
			case UPnP:
				if ph.ID != g.ID || ph.ID == 0 || ph.Nonce != nil {
					t.Errorf("ID %d nonce %x, gateway's ID %d", ph.ID, ph.Nonce, g.ID)
				}
			case PCP:
				if string(ph.Nonce) != string(g.Nonce[:]) || ph.ID != 0 {
					t.Errorf("nonce %x ID %d, gateway's nonce %x", ph.Nonce, ph.ID, g.Nonce)
				}
			}

			st, err := c.CheckPinhole(ctx, ph)
			switch p {
			case UPnP:
				if err != nil || st.Working || st.Packets != 0 {
					t.Errorf("check before traffic: %+v %v", st, err)
				}
				gw.SetPinholePackets(g.ID, 7)
				if st, err := c.CheckPinhole(ctx, ph); err != nil || !st.Working || st.Packets != 7 {
					t.Errorf("check after traffic: %+v %v", st, err)
				}
			case PCP:
				if !errors.Is(err, ErrNotSupported) {
					t.Errorf("check over PCP: %+v %v", st, err)
				}
			}

			up, err := c.UpdatePinhole(ctx, ph, 2*time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			if up.Lifetime != 2*time.Hour || up.Internal != ph.Internal || up.ID != ph.ID || string(up.Nonce) != string(ph.Nonce) {
				t.Errorf("updated %+v, was %+v", up, ph)
			}
			if g := onlyPinhole(t, gw); g.Lifetime != 2*time.Hour {
				t.Errorf("gateway's lifetime after update %v", g.Lifetime)
			}
			if err := c.DeletePinhole(ctx, up); err != nil {
				t.Fatal(err)
			}
			if ps := gw.Pinholes(); len(ps) != 0 {
				t.Errorf("left after delete: %+v", ps)
			}
		})
	}
}

// TestPinholeFromStoredRecord: a pinhole read back from JSON (as the
// portmap command keeps them) can be updated and deleted by another
// client, and its remote restriction survives the trip.
func TestPinholeFromStoredRecord(t *testing.T) {
	for _, p := range []Protocol{UPnP, PCP} {
		t.Run(string(p), func(t *testing.T) {
			gw, c := fakeGateway6(t, p)
			ctx := testContext(t)
			remote := netip.MustParseAddr("2001:db8::9")
			ph, err := c.AddPinhole(ctx, PinholeRequest{InternalPort: 22, RemoteIP: remote, RemotePort: 40000, Lifetime: 10 * time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			if ph.Remote != netip.AddrPortFrom(remote, 40000) || ph.RemoteIP() != remote {
				t.Errorf("remote %v", ph.Remote)
			}
			if p == UPnP {
				if g := onlyPinhole(t, gw); g.RemoteHost != remote || g.RemotePort != 40000 {
					t.Errorf("gateway holds %+v", g)
				}
			}
			b, err := json.Marshal(ph)
			if err != nil {
				t.Fatal(err)
			}
			var back Pinhole
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatal(err)
			}
			c2 := discover(t, Options{Gateway: gw.Addr().Addr(), GatewayPort: gw.Addr().Port(), Protocols: []Protocol{p}})
			if _, err := c2.UpdatePinhole(ctx, back, 0); err != nil {
				t.Fatalf("update from %s: %v", b, err)
			}
			if g := onlyPinhole(t, gw); g.Lifetime != 10*time.Minute {
				t.Errorf("update with lifetime 0 granted %v, want the pinhole's 10m", g.Lifetime)
			}
			if err := c2.DeletePinhole(ctx, back); err != nil {
				t.Fatal(err)
			}
			if ps := gw.Pinholes(); len(ps) != 0 {
				t.Errorf("left after delete: %+v", ps)
			}
		})
	}
}

func TestPinholeRemoteJSON(t *testing.T) {
	tests := []struct {
		ip   netip.Addr
		port uint16
		json string
		any  bool
	}{
		{netip.Addr{}, 0, `{"protocol":"upnp","gateway":"::1","id":1,"transport":"tcp","internal":"[::1]:80","lifetime":0}`, true},
		{netip.Addr{}, 443, `{"protocol":"upnp","gateway":"::1","id":1,"transport":"tcp","internal":"[::1]:80","remote":"[::]:443","lifetime":0}`, true},
		{netip.MustParseAddr("2001:db8::1"), 0, `{"protocol":"upnp","gateway":"::1","id":1,"transport":"tcp","internal":"[::1]:80","remote":"[2001:db8::1]:0","lifetime":0}`, false},
	}
	for _, tt := range tests {
		p := Pinhole{Protocol: UPnP, Gateway: loopback6, ID: 1, Transport: TCP, Internal: netip.AddrPortFrom(loopback6, 80), Remote: remoteAddrPort(tt.ip, tt.port)}
		b, err := json.Marshal(p)
		if err != nil || string(b) != tt.json {
			t.Errorf("%v %d: %s %v, want %s", tt.ip, tt.port, b, err, tt.json)
		}
		var back Pinhole
		if err := json.Unmarshal(b, &back); err != nil || back.Remote != p.Remote || back.RemoteIP().IsValid() == tt.any {
			t.Errorf("%s read back as %+v %v", b, back, err)
		}
	}
}

func TestPinholeRequestInvalid(t *testing.T) {
	tests := []struct {
		name string
		req  PinholeRequest
	}{
		{"port 0", PinholeRequest{}},
		{"transport", PinholeRequest{InternalPort: 80, Transport: "sctp"}},
		{"IPv4 internal", PinholeRequest{InternalPort: 80, InternalIP: netip.MustParseAddr("192.168.1.2")}},
		{"IPv4-mapped internal", PinholeRequest{InternalPort: 80, InternalIP: netip.MustParseAddr("::ffff:192.168.1.2")}},
		{"link-local internal", PinholeRequest{InternalPort: 80, InternalIP: netip.MustParseAddr("fe80::1")}},
		{"IPv4 remote", PinholeRequest{InternalPort: 80, RemoteIP: netip.MustParseAddr("203.0.113.1")}},
		{"multicast remote", PinholeRequest{InternalPort: 80, RemoteIP: netip.MustParseAddr("ff02::1")}},
		{"negative lifetime", PinholeRequest{InternalPort: 80, Lifetime: -time.Second}},
	}
	for _, p := range []Protocol{UPnP, PCP} {
		gw, c := fakeGateway6(t, p)
		gw.ClearRequests()
		for _, tt := range tests {
			if _, err := c.AddPinhole(testContext(t), tt.req); !errors.Is(err, ErrInvalidRequest) {
				t.Errorf("%s %s: %v, want ErrInvalidRequest", p, tt.name, err)
			}
		}
		if rs := gw.Requests(); len(rs) != 0 {
			t.Errorf("%s: invalid requests reached the gateway: %+v", p, rs)
		}
	}
	// PCP cannot filter by remote port alone.
	_, c := fakeGateway6(t, PCP)
	if _, err := c.AddPinhole(testContext(t), PinholeRequest{InternalPort: 80, RemotePort: 443}); !errors.Is(err, ErrInvalidRequest) {
		t.Errorf("pcp remote port alone: %v", err)
	}
}

func TestPinholeUPnPLifetime(t *testing.T) {
	tests := []struct {
		ask, want time.Duration
	}{
		{0, time.Hour},
		{1500 * time.Millisecond, 2 * time.Second},
		{time.Millisecond, time.Second},
		{48 * time.Hour, 24 * time.Hour},
	}
	gw, c := fakeGateway6(t, UPnP)
	for _, tt := range tests {
		ph, err := c.AddPinhole(testContext(t), PinholeRequest{InternalPort: 80, Lifetime: tt.ask})
		if err != nil {
			t.Fatal(err)
		}
		if g := onlyPinhole(t, gw); g.Lifetime != tt.want || ph.Lifetime != tt.want {
			t.Errorf("asked %v: granted %v, reported %v; want %v", tt.ask, g.Lifetime, ph.Lifetime, tt.want)
		}
		if err := c.DeletePinhole(testContext(t), ph); err != nil {
			t.Fatal(err)
		}
	}
}

// TestPinholeOtherHost: a pinhole for another address is sent from this
// host; a secure-mode gateway refuses it with the protocol's own error.
// (Each gateway ends with its subtest: the UPnP control-URL cache is keyed
// by address, and two live fake gateways share ::1.)
func TestPinholeOtherHost(t *testing.T) {
	other := netip.MustParseAddr("2001:db8::5")
	for _, p := range []Protocol{UPnP, PCP} {
		t.Run(string(p), func(t *testing.T) {
			gw, c := fakeGateway6(t, p)
			ph, err := c.AddPinhole(testContext(t), PinholeRequest{InternalPort: 80, InternalIP: other})
			if err != nil {
				t.Fatal(err)
			}
			if g := onlyPinhole(t, gw); g.InternalClient != other || ph.Internal.Addr() != other {
				t.Errorf("gateway %+v, pinhole %+v", g, ph)
			}
			if err := c.DeletePinhole(testContext(t), ph); err != nil {
				t.Fatal(err)
			}
		})
		t.Run(string(p)+"/secure", func(t *testing.T) {
			gw, c := fakeGateway6(t, p, portmaptest.WithSecureMode())
			_, err := c.AddPinhole(testContext(t), PinholeRequest{InternalPort: 80, InternalIP: other})
			var soap *upnp.SOAPError
			var res *pcp.ResultError
			switch {
			case p == UPnP && errors.As(err, &soap) && soap.Code == 606:
			case p == PCP && errors.As(err, &res) && res.Code == pcp.NotAuthorized:
			default:
				t.Errorf("secure mode: %v, want the gateway's refusal", err)
			}
			if ps := gw.Pinholes(); len(ps) != 0 {
				t.Errorf("opened anyway: %+v", ps)
			}
		})
	}
}

func TestPinholeGatewayErrors(t *testing.T) {
	gw, c := fakeGateway6(t, UPnP)
	ctx := testContext(t)
	gw.SetFirewallStatus(false, true)
	if _, err := c.AddPinhole(ctx, PinholeRequest{InternalPort: 80}); !errors.Is(err, upnp.ErrFirewallDisabled) {
		t.Errorf("firewall off: %v", err)
	}
	gw.SetFirewallStatus(true, true)
	gw.FailNext("AddPinhole", 701)
	if _, err := c.AddPinhole(ctx, PinholeRequest{InternalPort: 80}); !errors.Is(err, upnp.ErrPinholeSpaceExhausted) {
		t.Errorf("701: %v", err)
	}
	ph, err := c.AddPinhole(ctx, PinholeRequest{InternalPort: 80})
	if err != nil {
		t.Fatal(err)
	}
	// A gateway without the optional packet counter still answers a check.
	gw.FailNext("GetPinholePackets", 602)
	if st, err := c.CheckPinhole(ctx, ph); err != nil || st.Working {
		t.Errorf("check without counter: %+v %v", st, err)
	}
	if err := c.DeletePinhole(ctx, ph); err != nil {
		t.Fatal(err)
	}
	// Gone: the check, update and delete say so with the gateway's code.
	var soap *upnp.SOAPError
	if _, err := c.CheckPinhole(ctx, ph); !errors.As(err, &soap) || soap.Code != 704 {
		t.Errorf("check of a deleted pinhole: %v", err)
	}
	if _, err := c.UpdatePinhole(ctx, ph, time.Hour); !errors.Is(err, upnp.ErrNoSuchEntry) {
		t.Errorf("update of a deleted pinhole: %v", err)
	}
	if err := c.DeletePinhole(ctx, ph); !errors.Is(err, upnp.ErrNoSuchEntry) {
		t.Errorf("delete of a deleted pinhole: %v", err)
	}
}

func TestPinholeNotSupported(t *testing.T) {
	_, c := fakeGateway6(t, NATPMP)
	var ns *NotSupportedError
	if _, err := c.AddPinhole(testContext(t), PinholeRequest{InternalPort: 80}); !errors.As(err, &ns) || ns.Protocol != NATPMP {
		t.Errorf("natpmp: %v", err)
	}
	_, c = fakeGateway6(t, UPnP, portmaptest.WithConfig(portmaptest.Config{NoFirewallControl: true, Listen: netip.AddrPortFrom(loopback6, 0)}))
	if _, err := c.AddPinhole(testContext(t), PinholeRequest{InternalPort: 80}); !errors.As(err, &ns) || ns.Protocol != UPnP {
		t.Errorf("IGD without firewall service: %v", err)
	}
	// A pinhole of another protocol is not this client's to manage.
	_, c = fakeGateway6(t, PCP)
	up := Pinhole{Protocol: UPnP, ID: 3, Transport: TCP, Internal: netip.AddrPortFrom(loopback6, 80)}
	if err := c.DeletePinhole(testContext(t), up); !errors.Is(err, ErrInvalidRequest) {
		t.Errorf("upnp pinhole to a pcp client: %v", err)
	}
	if err := c.DeletePinhole(testContext(t), Pinhole{Protocol: PCP, Transport: TCP, Internal: up.Internal}); !errors.Is(err, ErrInvalidRequest) {
		t.Errorf("pcp pinhole without nonce: %v", err)
	}
}

// TestPinholeIPv4TestGateway: a test gateway on 127.0.0.1 has no IPv6
// address, and the client must not go looking for a real router.
func TestPinholeIPv4TestGateway(t *testing.T) {
	_, o := fakeGateway(t)
	o.Protocols = []Protocol{UPnP}
	c := discover(t, o)
	if _, err := c.AddPinhole(testContext(t), PinholeRequest{InternalPort: 80}); !errors.Is(err, ErrNoIPv6) {
		t.Errorf("%v, want ErrNoIPv6", err)
	}
}

func TestPickGateway6(t *testing.T) {
	v4 := netinfo.Gateway{Addr: netip.MustParseAddr("192.168.1.1"), Interface: "eth0"}
	ll := netinfo.Gateway{Addr: netip.MustParseAddr("fe80::1%eth0"), Interface: "eth0"}
	wl := netinfo.Gateway{Addr: netip.MustParseAddr("fe80::2%wlan0"), Interface: "wlan0"}
	ula := netinfo.Gateway{Addr: netip.MustParseAddr("fd00::1"), Interface: "eth1"}
	tests := []struct {
		name  string
		gws   []netinfo.Gateway
		gw4   netip.Addr
		iface string
		want  netip.Addr // invalid: none
	}{
		{"none", []netinfo.Gateway{v4}, v4.Addr, "", netip.Addr{}},
		{"same interface as IPv4", []netinfo.Gateway{v4, wl, ll}, v4.Addr, "", ll.Addr},
		{"first otherwise", []netinfo.Gateway{v4, wl, ula}, v4.Addr, "", wl.Addr},
		{"IPv4 gateway unknown", []netinfo.Gateway{wl, ll}, netip.MustParseAddr("10.0.0.1"), "", wl.Addr},
		{"interface asked", []netinfo.Gateway{v4, ll, ula}, v4.Addr, "eth1", ula.Addr},
		{"interface asked has none", []netinfo.Gateway{v4, ll}, v4.Addr, "eth1", netip.Addr{}},
		{"IPv4-mapped is not IPv6", []netinfo.Gateway{{Addr: netip.MustParseAddr("::ffff:10.0.0.1"), Interface: "eth0"}}, v4.Addr, "", netip.Addr{}},
	}
	for _, tt := range tests {
		g, ok := pickGateway6(tt.gws, tt.gw4, tt.iface)
		if ok != tt.want.IsValid() || (ok && g.Addr != tt.want) {
			t.Errorf("%s: %v %v, want %v", tt.name, g.Addr, ok, tt.want)
		}
	}
}

func TestPickLocal6(t *testing.T) {
	a := netip.MustParseAddr
	tests := []struct {
		addrs []netip.Addr
		want  netip.Addr
	}{
		{nil, netip.Addr{}},
		{[]netip.Addr{a("192.168.1.2"), a("fe80::2"), a("::1")}, netip.Addr{}},
		{[]netip.Addr{a("fe80::2"), a("fd00::2"), a("2001:db8::2")}, a("2001:db8::2")},
		{[]netip.Addr{a("fd00::2"), a("fd00::3")}, a("fd00::2")},
		{[]netip.Addr{a("::ffff:192.168.1.2"), a("ff02::1"), a("fd00::2")}, a("fd00::2")},
	}
	for _, tt := range tests {
		got, ok := pickLocal6(tt.addrs)
		if ok != tt.want.IsValid() || got != tt.want {
			t.Errorf("%v: %v %v, want %v", tt.addrs, got, ok, tt.want)
		}
	}
}

func TestPinholeSourceFor(t *testing.T) {
	local := netip.MustParseAddr("2001:db8::2")
	own := netip.MustParseAddr("2001:db8::3")
	p := ipv6Path{local: local, ownAddrs: func(a netip.Addr) bool { return a == own }}
	for in, want := range map[netip.Addr]netip.Addr{
		{}:                                 local,
		local:                              local,
		own:                                own,
		netip.MustParseAddr("2001:db8::9"): local,
	} {
		if got := p.sourceFor(in); got != want {
			t.Errorf("sourceFor(%v) = %v, want %v", in, got, want)
		}
	}
}

// Open port 8080 of this host to IPv6 senders for an hour.
func ExampleClient_AddPinhole() {
	// A fake gateway on [::1] stands in for the router here; in a program,
	// leave Options empty to use the default gateway.
	gw, err := portmaptest.Start(context.Background(), portmaptest.Config{Listen: netip.MustParseAddrPort("[::1]:0")})
	if err != nil {
		log.Fatal(err)
	}
	defer gw.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Discover(ctx, Options{Gateway: gw.Addr().Addr(), GatewayPort: gw.Addr().Port(), Protocols: []Protocol{UPnP}})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	p, err := c.AddPinhole(ctx, PinholeRequest{InternalPort: 8080})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("pinhole %d: %s %s open for %v\n", p.ID, p.Transport, p.Internal, p.Lifetime)
	if err := c.DeletePinhole(ctx, p); err != nil {
		log.Fatal(err)
	}
	// Output:
	// pinhole 1: tcp [::1]:8080 open for 1h0m0s
}
