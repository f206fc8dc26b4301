package portmap

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portmap-dev/portmap/internal/netinfo"
	"github.com/portmap-dev/portmap/portmaptest"
)

func TestDiscoverPrefersPCP(t *testing.T) {
	_, o := fakeGateway(t)
	c := discover(t, o)
	if c.Protocol() != PCP {
		t.Errorf("Protocol() = %s, want pcp (the best of the three)", c.Protocol())
	}
	if c.Gateway() != loopback || c.LocalAddr() != loopback {
		t.Errorf("Gateway() = %s, LocalAddr() = %s", c.Gateway(), c.LocalAddr())
	}
}

func TestDiscoverForcedProtocol(t *testing.T) {
	_, o := fakeGateway(t)
	for _, p := range Protocols {
		o.Protocols = []Protocol{p}
		if got := discover(t, o).Protocol(); got != p {
			t.Errorf("Protocols=%v: got %s", p, got)
		}
	}
}

func TestDiscoverFallsBack(t *testing.T) {
	tests := []struct {
		serves []portmaptest.Protocol
		want   Protocol
	}{
		// A NAT-PMP-only router answers PCP with the 8-byte
		// unsupported-version reply: NAT-PMP is used at once.
		{[]portmaptest.Protocol{portmaptest.NATPMP, portmaptest.UPnP}, NATPMP},
		{[]portmaptest.Protocol{portmaptest.NATPMP}, NATPMP},
		// A UPnP-only router ignores port 5351: UPnP is used after a short
		// grace, not after the whole timeout.
		{[]portmaptest.Protocol{portmaptest.UPnP}, UPnP},
	}
	for _, tt := range tests {
		_, o := fakeGateway(t, portmaptest.WithProtocols(tt.serves...))
		start := time.Now()
		c := discover(t, o)
		if c.Protocol() != tt.want {
			t.Errorf("gateway serving %v: chose %s, want %s", tt.serves, c.Protocol(), tt.want)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("gateway serving %v: Discover took %v", tt.serves, d)
		}
	}
}

func TestDiscoverNoGateway(t *testing.T) {
	gw, o := fakeGateway(t)
	gw.FailAlways("*", portmaptest.Drop)
	ctx, cancel := context.WithTimeout(t.Context(), 700*time.Millisecond)
	defer cancel()
	start := time.Now()
	c, err := Discover(ctx, o)
	if err == nil {
		c.Close()
		t.Fatal("Discover succeeded against a gateway that answers nothing")
	}
	if !errors.Is(err, ErrNoGateway) {
		t.Fatalf("error %v does not match ErrNoGateway", err)
	}
	var ng *NoGatewayError
	if !errors.As(err, &ng) || len(ng.Tried) != 3 || ng.Gateway != loopback {
		t.Fatalf("error %#v: want a NoGatewayError naming the gateway and the 3 protocols", err)
	}
	if ng.Elapsed < 600*time.Millisecond || time.Since(start) > 2*time.Second {
		t.Errorf("Elapsed %v, took %v: want the context's 700 ms", ng.Elapsed, time.Since(start))
	}
}

func TestDiscoverAll(t *testing.T) {
	_, o := fakeGateway(t, portmaptest.WithProtocols(portmaptest.NATPMP, portmaptest.UPnP))
	gws, err := DiscoverAll(testContext(t), o)
	if err != nil {
		t.Fatal(err)
	}
	if len(gws) != 1 {
		t.Fatalf("got %d gateways", len(gws))
	}
	g := gws[0]
	if got := g.Protocols(); len(got) != 2 || got[0] != NATPMP || got[1] != UPnP {
		t.Errorf("Protocols() = %v, want [natpmp upnp]", got)
	}
	if g.ExternalIP != portmaptest.DefaultExternalIP {
		t.Errorf("ExternalIP = %s", g.ExternalIP)
	}
	for _, p := range g.Probes {
		if p.Protocol == PCP && p.Err == nil {
			t.Error("PCP reported as working on a NAT-PMP-only gateway")
		}
		if p.Protocol == UPnP && (p.Status != "Connected" || p.Version == "") {
			t.Errorf("UPnP probe: %+v", p)
		}
	}
	if len(g.Warnings()) != 0 {
		t.Errorf("warnings for a public address: %v", g.Warnings())
	}
}

// DiscoverAll reports an IGD answering the LAN search at another address
// as a gateway of its own, marked OffRoute, and does not repeat the
// gateway it probed already.
func TestDiscoverAllReportsOtherIGDs(t *testing.T) {
	_, o := fakeGateway(t)
	other := portmaptest.NewGateway(t, portmaptest.WithProtocols(portmaptest.UPnP),
		portmaptest.WithListen(netip.MustParseAddrPort("127.0.0.2:0")))
	for _, tt := range []struct {
		name   string
		search netip.AddrPort
		want   int
	}{
		{"another IGD", other.Addr(), 2},
		{"the gateway itself", netip.AddrPortFrom(o.Gateway, o.GatewayPort), 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			o := o
			o.lanSearchAddr = tt.search
			gws, err := DiscoverAll(testContext(t), o)
			if err != nil {
				t.Fatal(err)
			}
			if len(gws) != tt.want {
				t.Fatalf("%d gateways, want %d: %+v", len(gws), tt.want, gws)
			}
			if gws[0].Address != o.Gateway || gws[0].OffRoute || len(gws[0].Protocols()) != 3 {
				t.Errorf("first gateway: %+v", gws[0])
			}
			if tt.want == 1 {
				return
			}
			g := gws[1]
			if g.Address != other.Addr().Addr() || !g.OffRoute || !slices.Equal(g.Protocols(), []Protocol{UPnP}) ||
				g.ExternalIP != portmaptest.DefaultExternalIP || g.Probes[0].Status != "Connected" {
				t.Errorf("other IGD: %+v", g)
			}
			if ws := g.Warnings(); len(ws) != 1 || !strings.Contains(ws[0], "not a gateway of this host's routes") {
				t.Errorf("other IGD warnings: %q", ws)
			}
		})
	}
}

func TestGatewayAddrs(t *testing.T) {
	gws := []netinfo.Gateway{
		{Addr: mustAddr("192.168.1.1"), Interface: "eth0"},
		{Addr: mustAddr("fe80::1"), Interface: "eth0"},
		{Addr: mustAddr("10.0.0.1"), Interface: "wlan0"},
		{Addr: mustAddr("::ffff:192.168.1.1"), Interface: "eth1"},
	}
	got := gatewayAddrs(gws)
	if want := []netip.Addr{mustAddr("192.168.1.1"), mustAddr("10.0.0.1")}; !slices.Equal(got, want) {
		t.Errorf("gatewayAddrs = %v, want %v", got, want)
	}
}

func TestDiscoverAllWarnsDoubleNAT(t *testing.T) {
	gw, o := fakeGateway(t, portmaptest.WithProtocols(portmaptest.NATPMP))
	gw.SetExternalIP(mustAddr("192.168.1.7"))
	gws, err := DiscoverAll(testContext(t), o)
	if err != nil {
		t.Fatal(err)
	}
	if ws := gws[0].Warnings(); len(ws) != 1 || ClassifyAddress(gws[0].ExternalIP) != AddressPrivate {
		t.Errorf("Warnings() = %v for external address %s", ws, gws[0].ExternalIP)
	}
}
