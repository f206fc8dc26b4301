package portmap

import (
	"net/netip"
	"testing"
	"time"
)

func TestListenMapsWhileOpen(t *testing.T) {
	gw, o := fakeGateway(t)
	lc := ListenConfig{Options: o, Lifetime: time.Hour}
	ln, err := lc.Listen(testContext(t), "tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := ln.Mapping()
	port := ln.Addr().(interface{ String() string }).String()
	if !gatewayHas(gw, "TCP", m.External.Port(), m.Internal) || ln.ExternalAddr() != m.External {
		t.Fatalf("listener on %s: mapping %+v; gateway has %+v", port, m, gw.Mappings())
	}
	if m.Internal.Port() != uint16(ln.Addr().(interface{ AddrPort() netip.AddrPort }).AddrPort().Port()) {
		t.Errorf("mapped internal port %d, listening on %s", m.Internal.Port(), port)
	}
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	if gatewayHas(gw, "TCP", m.External.Port(), m.Internal) {
		t.Error("the mapping outlived the listener")
	}
	ln.Close() // a second Close is harmless
}

func TestListenPacket(t *testing.T) {
	gw, o := fakeGateway(t)
	lc := ListenConfig{Options: o}
	pc, err := lc.ListenPacket(testContext(t), "udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := pc.Mapping()
	if m.Transport != UDP || !gatewayHas(gw, "UDP", m.External.Port(), m.Internal) {
		t.Fatalf("mapping %+v; gateway has %+v", m, gw.Mappings())
	}
	pc.Close()
	if gatewayHas(gw, "UDP", m.External.Port(), m.Internal) {
		t.Error("the mapping outlived the socket")
	}
}

func TestListenRefusesIPv6AndBadGateway(t *testing.T) {
	_, o := fakeGateway(t)
	lc := ListenConfig{Options: o}
	if ln, err := lc.Listen(testContext(t), "tcp6", "[::1]:0"); err == nil {
		ln.Close()
		t.Error("Listen tcp6 succeeded: IPv6 needs a pinhole")
	}
}
