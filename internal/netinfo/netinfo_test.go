package netinfo

import (
	"errors"
	"net/netip"
	"testing"
)

func TestLocalAddrLoopback(t *testing.T) {
	// Only loopback: a connected UDP socket sends nothing anyway.
	for _, tt := range []struct{ gw, want string }{
		{"127.0.0.1", "127.0.0.1"},
		{"::1", "::1"},
	} {
		got, err := LocalAddr(netip.MustParseAddr(tt.gw))
		if err != nil {
			if tt.gw == "::1" {
				t.Logf("no IPv6 loopback: %v", err)
				continue
			}
			t.Fatal(err)
		}
		if got != netip.MustParseAddr(tt.want) {
			t.Errorf("LocalAddr(%s) = %v, want %v", tt.gw, got, tt.want)
		}
	}
	if _, err := LocalAddr(netip.Addr{}); err == nil {
		t.Error("LocalAddr accepted an invalid address")
	}
}

func TestSystemGateways(t *testing.T) {
	// Reads this machine's routing table; sends nothing.
	gws, err := DefaultGateways()
	if errors.Is(err, ErrNoGateway) {
		t.Skip("no default route here")
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range gws {
		if !g.Addr.IsValid() || g.Addr.IsUnspecified() || g.Interface == "" {
			t.Errorf("bad gateway %+v", g)
		}
	}
	t.Logf("default gateways: %+v", gws)
	if gw, err := DefaultGateway(); err == nil {
		if !gw.Is4() || gw != gws[0].Addr {
			t.Errorf("DefaultGateway = %v, want the first IPv4 one of %+v", gw, gws)
		}
	}
	g, err := InterfaceGateway(gws[0].Interface)
	if err != nil || g != gws[0] {
		t.Errorf("InterfaceGateway(%q) = %+v, %v", gws[0].Interface, g, err)
	}
	if _, err := InterfaceGateway("no-such-interface0"); !errors.Is(err, ErrNoGateway) {
		t.Errorf("unknown interface: %v", err)
	}
}
