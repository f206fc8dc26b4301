package natpmp

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"
)

// sender returns a UDP socket on addr (e.g. 127.0.0.2) that sends
// announcements to the listener.
func sender(t *testing.T, addr string) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(addr), 0)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func announce(t *testing.T, from *net.UDPConn, to net.Addr, r Response) {
	t.Helper()
	if _, err := from.WriteTo(mustMarshal(t, r), to); err != nil {
		t.Fatal(err)
	}
}

func recvAnnouncement(t *testing.T, c <-chan Announcement) Announcement {
	t.Helper()
	select {
	case a, ok := <-c:
		if !ok {
			t.Fatal("channel closed")
		}
		return a
	case <-time.After(5 * time.Second):
		t.Fatal("no announcement")
	}
	return Announcement{}
}

func TestListenAnnouncements(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	gw := netip.MustParseAddr("127.0.0.1")
	// gwSock stands in for the gateway's port 5351, otherPort is another
	// socket of the gateway's address.
	gwSock, otherPort, stranger := sender(t, "127.0.0.1"), sender(t, "127.0.0.1"), sender(t, "127.0.0.2")
	// A unicast loopback socket stands in for 224.0.0.1:5350.
	l, err := ListenAnnouncements(ctx, gw, WithAnnounceAddr(netip.MustParseAddrPort("127.0.0.1:0")),
		WithGatewayPort(gwSock.LocalAddr().(*net.UDPAddr).AddrPort().Port()))
	if err != nil {
		t.Fatal(err)
	}
	to := l.Addr()
	ext := netip.MustParseAddr("198.51.100.20")

	announce(t, stranger, to, Response{Op: 128, Epoch: 1, ExternalAddr: netip.MustParseAddr("203.0.113.66")})
	// RFC 6886 §3.2.1: announcements come from port 5351; from another
	// port of the gateway's address it is not one.
	announce(t, otherPort, to, Response{Op: 128, Epoch: 2, ExternalAddr: netip.MustParseAddr("203.0.113.67")})
	// PCP ANNOUNCE (version 2) shares the port: ignored.
	if _, err := gwSock.WriteTo(append([]byte{2, 128, 0, 0}, make([]byte, 20)...), to); err != nil {
		t.Fatal(err)
	}
	announce(t, gwSock, to, Response{Op: 130, Epoch: 1, InternalPort: 1, ExternalPort: 1, Lifetime: 1})
	announce(t, gwSock, to, Response{Op: 128, Result: 3, Epoch: 1, Short: true})
	announce(t, gwSock, to, Response{Op: 128, Epoch: 10000, ExternalAddr: ext})
	a := recvAnnouncement(t, l.Announcements())
	if a.Gateway != gw || a.ExternalAddr != ext || a.Epoch != 10000 || a.Reboot || a.Result != ResultSuccess {
		t.Fatalf("first announcement %+v", a)
	}
	announce(t, gwSock, to, Response{Op: 128, Epoch: 5, ExternalAddr: ext})
	if a := recvAnnouncement(t, l.Announcements()); !a.Reboot || a.Epoch != 5 {
		t.Fatalf("after reboot %+v", a)
	}
	cancel() // ending the context stops the listener
	select {
	case a, ok := <-l.Announcements():
		if ok {
			t.Fatalf("unexpected announcement %+v", a)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("listener did not stop with its context")
	}
	if err := l.Close(); err != nil {
		t.Fatalf("Close after stop: %v", err)
	}
}

func TestAnnounceSocketReuse(t *testing.T) {
	ctx := context.Background()
	gw := netip.MustParseAddr("127.0.0.1")
	l1, err := ListenAnnouncements(ctx, gw, WithAnnounceAddr(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		t.Fatal(err)
	}
	defer l1.Close()
	if l1.port != Port {
		t.Errorf("announcements accepted from port %d of the gateway, want %d", l1.port, Port)
	}
	// A second listener (another program) on the same address and port.
	l2, err := ListenAnnouncements(ctx, gw, WithAnnounceAddr(l1.Addr().(*net.UDPAddr).AddrPort()))
	if err != nil {
		t.Fatalf("second listener on the same port: %v", err)
	}
	l2.Close()
}

func TestClientAnnouncements(t *testing.T) {
	pc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	to := pc.LocalAddr()
	g := newFakeGateway(t, simpleGateway(t, constEpoch(9000)))
	g.start()
	// The gateway announces from its NAT-PMP socket; the listener is an
	// already open socket.
	c, err := NewClient(g.addr, WithAnnounceConn(pc))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	if err := c.ListenAnnouncements(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.ListenAnnouncements(ctx); err == nil {
		t.Fatal("second ListenAnnouncements accepted")
	}
	if _, err := c.ExternalAddress(ctx); err != nil { // learns 198.51.100.7, epoch 9000
		t.Fatal(err)
	}
	gwSock := g.conn
	otherPort := sender(t, "127.0.0.1")
	stranger := sender(t, "127.0.0.2")
	// Same address, later epoch: nothing new. A stranger's, or one from
	// another port of the gateway: ignored.
	announce(t, gwSock, to, Response{Op: 128, Epoch: 9001, ExternalAddr: netip.MustParseAddr("198.51.100.7")})
	announce(t, stranger, to, Response{Op: 128, Epoch: 1, ExternalAddr: netip.MustParseAddr("203.0.113.66")})
	announce(t, otherPort, to, Response{Op: 128, Epoch: 2, ExternalAddr: netip.MustParseAddr("203.0.113.67")})
	announce(t, gwSock, to, Response{Op: 128, Epoch: 9002, ExternalAddr: netip.MustParseAddr("198.51.100.8")})
	ev := nextEvent(t, c)
	if !ev.Announced || !ev.AddressChanged || ev.Reboot || ev.ExternalAddr != netip.MustParseAddr("198.51.100.8") || ev.Epoch != 9002 {
		t.Fatalf("address change event %+v", ev)
	}
	// The gateway reboots and announces epoch 0.
	announce(t, gwSock, to, Response{Op: 128, Epoch: 0, ExternalAddr: netip.MustParseAddr("198.51.100.8")})
	ev = nextEvent(t, c)
	if !ev.Announced || !ev.Reboot || ev.AddressChanged || ev.Epoch != 0 {
		t.Fatalf("reboot event %+v", ev)
	}
	// The epoch check is shared with the replies: 9000 after 0 is no
	// reboot; the reply's address differs from the announced one.
	if _, err := c.ExternalAddress(ctx); err != nil {
		t.Fatal(err)
	}
	ev = nextEvent(t, c)
	if ev.Reboot || ev.Announced || !ev.AddressChanged || ev.ExternalAddr != netip.MustParseAddr("198.51.100.7") {
		t.Fatalf("event after reply %+v", ev)
	}
}
