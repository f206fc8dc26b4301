package upnp

import (
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestListenNotify(t *testing.T) {
	discNoLeak(t)
	// A non-multicast group address is simply bound: loopback only.
	l, err := ListenNotify(NotifyOptions{Group: netip.MustParseAddrPort("127.0.0.1:0")})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	send := func(msg string) {
		c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(l.Addr()))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
	}
	send("M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: \"ssdp:discover\"\r\nST: ssdp:all\r\n\r\n") // another control point: ignored
	send(strings.Repeat("x", maxSSDPDatagram+1))                                                                // oversized: ignored
	send(discFixture(t, "ssdp-miniupnpd-2.3.1-notify-alive.txt"))
	select {
	case n := <-l.Notifications():
		if n.NTS != NTSAlive || n.BootID != 1795305623 || !n.From.Addr().IsLoopback() || n.From.Port() == 0 {
			t.Errorf("got %+v", n)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("no notification")
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok := <-l.Notifications(); ok {
		t.Error("channel open after Close")
	}
	l.Close() // idempotent
}

func TestListenNotifySourceFilter(t *testing.T) {
	discNoLeak(t)
	l, err := ListenNotify(NotifyOptions{Group: netip.MustParseAddrPort("127.0.0.1:0"), Source: netip.MustParseAddr("127.0.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	other, err := ListenNotify(NotifyOptions{Group: netip.MustParseAddrPort("127.0.0.1:0"), Source: netip.MustParseAddr("10.77.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	msg := []byte(discFixture(t, "ssdp-miniupnpd-2.3.1-notify-alive.txt"))
	for _, to := range []netip.AddrPort{l.Addr(), other.Addr()} {
		c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(to))
		if err != nil {
			t.Fatal(err)
		}
		c.Write(msg)
		c.Close()
	}
	select {
	case <-l.Notifications():
	case <-time.After(3 * time.Second):
		t.Fatal("matching source dropped")
	}
	select {
	case n := <-other.Notifications():
		t.Errorf("foreign source delivered: %+v", n)
	case <-time.After(100 * time.Millisecond):
	}
}

func TestBootTracker(t *testing.T) {
	const u = "uuid:3b4c1d3a-7f1e-4e8e-9a1a-0123456789ab"
	n := func(nts string, boot, next int64) *Notify {
		return &Notify{NT: STRootDevice, NTS: nts, USN: u + "::upnp:rootdevice", BootID: boot, NextBootID: next}
	}
	steps := []struct {
		name     string
		n        *Notify
		rebooted bool
	}{
		{"first sight", n(NTSAlive, 100, -1), false},
		{"same boot", n(NTSAlive, 100, -1), false},
		{"byebye", n(NTSByeBye, 100, -1), false},
		{"back, same boot (link flap)", n(NTSAlive, 100, -1), false},
		{"update announces 101", n(NTSUpdate, 100, 101), false},
		{"alive with announced 101", n(NTSAlive, 101, -1), false},
		{"reboot: 200", n(NTSAlive, 200, -1), true},
		{"no BOOTID: cannot tell", n(NTSAlive, -1, -1), false},
		{"still 200", n(NTSAlive, 200, -1), false},
		{"no UUID", &Notify{NTS: NTSAlive, USN: "garbage", BootID: 5}, false},
	}
	var bt BootTracker
	for _, s := range steps {
		if got := bt.Observe(s.n); got != s.rebooted {
			t.Errorf("%s: Observe = %v, want %v", s.name, got, s.rebooted)
		}
	}
	r := &SearchResponse{USN: u + "::" + STIGDv2, BootID: 300}
	if !bt.ObserveResponse(r) {
		t.Error("M-SEARCH reply with a new BOOTID not a reboot")
	}
	// Bounded memory.
	for i := range maxTrackedDevices + 10 {
		bt.Observe(&Notify{NTS: NTSAlive, USN: "uuid:" + strings.Repeat("a", i%7) + string(rune('A'+i%26)) + netip.AddrFrom4([4]byte{0, 0, byte(i >> 8), byte(i)}).String(), BootID: 1})
	}
	if len(bt.ids) > maxTrackedDevices {
		t.Errorf("%d devices tracked", len(bt.ids))
	}
}
