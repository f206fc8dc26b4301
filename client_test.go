package portmap

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/portmap-dev/portmap/portmaptest"
	"github.com/portmap-dev/portmap/upnp"
)

// gatewayHas reports whether the fake gateway holds a mapping of ext to
// internal with the transport.
func gatewayHas(gw *portmaptest.Gateway, transport string, ext uint16, internal netip.AddrPort) bool {
	for _, m := range gw.Mappings() {
		if m.Transport == transport && m.ExternalPort == ext && m.InternalAddr == internal.Addr() && m.InternalPort == internal.Port() && !m.Peer {
			return true
		}
	}
	return false
}

func TestAddDeleteEachProtocol(t *testing.T) {
	for _, p := range Protocols {
		t.Run(string(p), func(t *testing.T) {
			gw, o := fakeGateway(t)
			o.Protocols = []Protocol{p}
			c := discover(t, o)
			ctx := testContext(t)
			m, err := c.Add(ctx, Request{InternalPort: 8080, Description: "test <&>"})
			if err != nil {
				t.Fatal(err)
			}
			want := netip.AddrPortFrom(loopback, 8080)
			if m.Protocol != p || m.Transport != TCP || m.Internal != want || m.External.Port() != 8080 ||
				m.External.Addr() != portmaptest.DefaultExternalIP || m.Gateway != loopback {
				t.Errorf("Add defaults: got %+v", m)
			}
			if m.Lifetime <= 0 || m.Lifetime > DefaultLifetime || m.Expires.IsZero() {
				t.Errorf("granted lifetime %v, expires %v", m.Lifetime, m.Expires)
			}
			if !gatewayHas(gw, "TCP", 8080, want) {
				t.Fatalf("gateway table lacks the mapping: %+v", gw.Mappings())
			}
			if p == PCP && len(m.Nonce) != 12 {
				t.Errorf("PCP mapping without its nonce: %x", m.Nonce)
			}
			r, err := c.Refresh(ctx, m, time.Hour)
			if err != nil || r.External != m.External {
				t.Errorf("Refresh = %+v, %v; want the same external port", r, err)
			}
			if err := c.Delete(ctx, m); err != nil {
				t.Fatal(err)
			}
			if gatewayHas(gw, "TCP", 8080, want) {
				t.Error("mapping still in the gateway after Delete")
			}
		})
	}
}

func TestAddUDPAndTakenPort(t *testing.T) {
	for _, p := range Protocols {
		t.Run(string(p), func(t *testing.T) {
			gw, o := fakeGateway(t)
			o.Protocols = []Protocol{p}
			c := discover(t, o)
			ctx := testContext(t)
			other := mustAddr("127.0.0.9")
			if err := gw.AddMapping(portmaptest.Mapping{Protocol: portmaptest.UPnP, Transport: "UDP", ExternalPort: 5000, InternalAddr: other, InternalPort: 5000, Enabled: true}); err != nil {
				t.Fatal(err)
			}
			// Taken, and the caller accepts another port.
			m, err := c.Add(ctx, Request{Transport: UDP, InternalPort: 5000})
			if err != nil {
				t.Fatal(err)
			}
			if m.External.Port() == 5000 || m.Transport != UDP {
				t.Errorf("got %+v; want UDP on another external port", m)
			}
			// Taken, and the caller wants that port or nothing.
			_, err = c.Add(ctx, Request{Transport: UDP, InternalPort: 5001, ExternalPort: 5000, ExactPort: true})
			if err == nil {
				t.Fatal("ExactPort on a taken port succeeded")
			}
			for _, gm := range gw.Mappings() {
				if gm.InternalPort == 5001 {
					t.Errorf("a failed exact-port Add left a mapping behind: %+v", gm)
				}
			}
		})
	}
}

func TestAddInvalid(t *testing.T) {
	_, o := fakeGateway(t)
	c := discover(t, o)
	for _, r := range []Request{
		{},
		{InternalPort: 80, Transport: "sctp"},
		{InternalPort: 80, Lifetime: -time.Second},
	} {
		if _, err := c.Add(testContext(t), r); !errors.Is(err, ErrInvalidRequest) {
			t.Errorf("Add(%+v) = %v, want ErrInvalidRequest", r, err)
		}
	}
}

func TestPermanentLeaseQuirk(t *testing.T) {
	// Routers that allow only permanent leases (UPnP 725) get one, and the
	// mapping says so: its owner must delete it.
	_, o := fakeGateway(t, portmaptest.WithIGDv1(), portmaptest.WithPermanentLeasesOnly(), portmaptest.WithProtocols(portmaptest.UPnP))
	c := discover(t, o)
	m, err := c.Add(testContext(t), Request{InternalPort: 7000, Lifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if !m.Permanent || m.Lifetime != 0 || !m.Expires.IsZero() {
		t.Errorf("got %+v; want a permanent mapping", m)
	}
}

func TestPermanentLeaseQuirkIGDv2(t *testing.T) {
	// On IGDv2 the lease 0 of the retry means one week: the mapping is
	// marked for deletion by its owner, and expires (so a keeper renews
	// it) within the week.
	_, o := fakeGateway(t, portmaptest.WithPermanentLeasesOnly(), portmaptest.WithProtocols(portmaptest.UPnP))
	c := discover(t, o)
	m, err := c.Add(testContext(t), Request{InternalPort: 7000, Lifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if !m.Permanent || m.Lifetime != upnp.MaxLeaseV2 || m.Expires.IsZero() {
		t.Errorf("got %+v; want a one-week mapping its owner must delete", m)
	}
}

func TestListAndDeleteAll(t *testing.T) {
	gw, o := fakeGateway(t)
	o.Protocols = []Protocol{UPnP}
	c := discover(t, o)
	ctx := testContext(t)
	other := mustAddr("127.0.0.9")
	gw.AddMapping(portmaptest.Mapping{Protocol: portmaptest.UPnP, Transport: "TCP", ExternalPort: 9999, InternalAddr: other, InternalPort: 9999, Enabled: true})
	for _, port := range []uint16{7001, 7002, 7003} {
		if _, err := c.Add(ctx, Request{InternalPort: port}); err != nil {
			t.Fatal(err)
		}
	}
	ms, err := c.List(ctx)
	if err != nil || len(ms) != 4 {
		t.Fatalf("List = %d mappings, %v; want 4", len(ms), err)
	}
	deleted, err := c.DeleteAll(ctx, Filter{InternalIP: c.LocalAddr(), First: 7002, Last: 7003})
	if err != nil || len(deleted) != 2 {
		t.Fatalf("DeleteAll = %v, %v; want 7002 and 7003", deleted, err)
	}
	left := map[uint16]bool{}
	for _, m := range gw.Mappings() {
		left[m.ExternalPort] = true
	}
	if !left[7001] || left[7002] || left[7003] || !left[9999] {
		t.Errorf("left in the gateway: %v", left)
	}
}

func TestListNotSupported(t *testing.T) {
	_, o := fakeGateway(t)
	for _, p := range []Protocol{NATPMP, PCP} {
		o.Protocols = []Protocol{p}
		c := discover(t, o)
		_, err := c.List(testContext(t))
		var ns *NotSupportedError
		if !errors.Is(err, ErrNotSupported) || !errors.As(err, &ns) || ns.Protocol != p {
			t.Errorf("%s List: %v; want a NotSupportedError", p, err)
		}
	}
}

func TestExternalIP(t *testing.T) {
	_, o := fakeGateway(t)
	for _, p := range Protocols {
		o.Protocols = []Protocol{p}
		ip, err := discover(t, o).ExternalIP(testContext(t))
		if err != nil || ip != portmaptest.DefaultExternalIP {
			t.Errorf("%s ExternalIP = %s, %v", p, ip, err)
		}
	}
}

func TestFilterMatch(t *testing.T) {
	m := Mapping{Transport: UDP, External: netip.MustParseAddrPort("1.2.3.4:500"), Internal: netip.MustParseAddrPort("10.0.0.2:500")}
	tests := []struct {
		f    Filter
		want bool
	}{
		{Filter{}, true},
		{Filter{Transport: UDP}, true},
		{Filter{Transport: TCP}, false},
		{Filter{InternalIP: mustAddr("10.0.0.2")}, true},
		{Filter{InternalIP: mustAddr("10.0.0.3")}, false},
		{Filter{First: 500, Last: 500}, true},
		{Filter{First: 501}, false},
		{Filter{Last: 499}, false},
	}
	for _, tt := range tests {
		if got := tt.f.Match(m); got != tt.want {
			t.Errorf("%+v.Match = %v, want %v", tt.f, got, tt.want)
		}
	}
}
