package portmaptest

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/portmap-dev/portmap/natpmp"
	"github.com/portmap-dev/portmap/pcp"
)

func natpmpClient(t *testing.T, gw *Gateway, opts ...natpmp.Option) *natpmp.Client {
	t.Helper()
	opts = append([]natpmp.Option{natpmp.WithInitialTimeout(50 * time.Millisecond), natpmp.WithMaxAttempts(4)}, opts...)
	c, err := natpmp.NewClient(gw.Addr(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestNATPMPExternalAddress(t *testing.T) {
	gw := NewGateway(t)
	c := natpmpClient(t, gw)
	ea, err := c.ExternalAddress(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if ea.Addr != DefaultExternalIP || ea.Epoch < uint32(DefaultUptime/time.Second) {
		t.Fatalf("got %+v, want %v and epoch >= 3600", ea, DefaultExternalIP)
	}
	gw.SetExternalIP(netip.Addr{})
	_, err = c.ExternalAddress(testCtx(t))
	if !errors.Is(err, &natpmp.ResultError{Code: natpmp.ResultNetworkFailure}) {
		t.Fatalf("without external address: %v, want NetworkFailure", err)
	}
}

func TestNATPMPMapRenewDelete(t *testing.T) {
	gw := NewGateway(t)
	c := natpmpClient(t, gw)
	ctx := testCtx(t)
	m, err := c.Map(ctx, natpmp.TCP, 8080, 0, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if m.ExternalPort != 8080 || m.Lifetime != time.Hour {
		t.Fatalf("Map = %+v, want port 8080 (the internal one) for 1h", m)
	}
	tab := gw.Mappings()
	if len(tab) != 1 || tab[0].Protocol != NATPMP || tab[0].InternalAddr != loopback4 || tab[0].Description != "NAT-PMP 8080 tcp" {
		t.Fatalf("table %+v", tab)
	}
	// Renewal keeps the port even when another is suggested.
	m2, err := c.Map(ctx, natpmp.TCP, 8080, 9999, 2*time.Hour)
	if err != nil || m2.ExternalPort != 8080 || m2.Lifetime != 2*time.Hour {
		t.Fatalf("renew = %+v, %v", m2, err)
	}
	if _, err := c.Map(ctx, natpmp.UDP, 5353, 0, time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, natpmp.TCP, 8080); err != nil {
		t.Fatal(err)
	}
	if tab := gw.Mappings(); len(tab) != 1 || tab[0].Transport != "UDP" {
		t.Fatalf("after delete %+v", tab)
	}
	if err := c.DeleteAll(ctx, natpmp.UDP); err != nil {
		t.Fatal(err)
	}
	if tab := gw.Mappings(); len(tab) != 0 {
		t.Fatalf("after delete all %+v", tab)
	}
}

func TestNATPMPSharedTable(t *testing.T) {
	gw := NewGateway(t)
	if err := gw.AddMapping(Mapping{Transport: "TCP", ExternalPort: 8080, InternalAddr: otherHost, InternalPort: 80}); err != nil {
		t.Fatal(err)
	}
	c := natpmpClient(t, gw)
	m, err := c.Map(testCtx(t), natpmp.TCP, 8080, 8080, time.Hour)
	if err != nil || m.ExternalPort != 8081 {
		t.Fatalf("Map = %+v, %v; want the next free port 8081", m, err)
	}
	// NAT-PMP deletes only its own mappings.
	if err := c.DeleteAll(testCtx(t), natpmp.TCP); err != nil {
		t.Fatal(err)
	}
	if tab := gw.Mappings(); len(tab) != 1 || tab[0].InternalAddr != otherHost {
		t.Fatalf("table %+v", tab)
	}
}

func TestNATPMPFailNext(t *testing.T) {
	for _, code := range []natpmp.ResultCode{natpmp.ResultNotAuthorized, natpmp.ResultNetworkFailure, natpmp.ResultOutOfResources} {
		t.Run(code.String(), func(t *testing.T) {
			gw := NewGateway(t)
			c := natpmpClient(t, gw)
			gw.FailNext("natpmp:map", int(code))
			_, err := c.Map(testCtx(t), natpmp.UDP, 4000, 0, time.Minute)
			if !errors.Is(err, &natpmp.ResultError{Code: code}) {
				t.Fatalf("got %v, want result %d", err, code)
			}
			if _, err := c.Map(testCtx(t), natpmp.UDP, 4000, 0, time.Minute); err != nil {
				t.Fatalf("next request: %v", err)
			}
		})
	}
}

func TestNATPMPDropAndDelay(t *testing.T) {
	gw := NewGateway(t)
	c := natpmpClient(t, gw)
	gw.DropNext(2)
	if _, err := c.ExternalAddress(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	reqs := gw.RequestsFor("natpmp:address")
	if len(reqs) != 3 || reqs[0].Code != Drop || reqs[1].Code != Drop || reqs[2].Code != 0 {
		t.Fatalf("captured %+v; want 2 dropped then answered", reqs)
	}
	gw.ClearRequests()
	gw.SetDelay(120 * time.Millisecond)
	start := time.Now()
	if _, err := c.ExternalAddress(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 120*time.Millisecond {
		t.Fatalf("answered after %v, want >= delay", d)
	}
	gw.SetDelay(0)
	gw.FailAlways("natpmp:*", Drop)
	// A new client: late replies to the old one's retransmissions must not
	// count.
	if _, err := natpmpClient(t, gw, natpmp.WithMaxAttempts(2)).ExternalAddress(testCtx(t)); !errors.Is(err, natpmp.ErrTimeout) {
		t.Fatalf("gateway silent: %v, want ErrTimeout", err)
	}
}

func TestNATPMPRebootSeenByClient(t *testing.T) {
	gw := NewGateway(t)
	c := natpmpClient(t, gw)
	ctx := testCtx(t)
	if _, err := c.Map(ctx, natpmp.TCP, 7000, 0, time.Hour); err != nil {
		t.Fatal(err)
	}
	gw.Reboot()
	if gw.Epoch() > 1 || len(gw.Mappings()) != 0 {
		t.Fatalf("after reboot: epoch %d, table %+v", gw.Epoch(), gw.Mappings())
	}
	if _, err := c.ExternalAddress(ctx); err != nil {
		t.Fatal(err)
	}
	for {
		select {
		case ev := <-c.Events():
			if ev.Reboot {
				return
			}
		case <-ctx.Done():
			t.Fatal("no reboot event")
		}
	}
}

func TestNATPMPAnnouncements(t *testing.T) {
	conn := listenUDP(t)
	gw := NewGateway(t, WithAnnounceAddrs(udpAddr(conn)))
	// The start-up announcement waits in conn; the gateway sends from its
	// NAT-PMP port, which is not 5351.
	l, err := natpmp.ListenAnnouncements(testCtx(t), loopback4, natpmp.WithAnnounceConn(conn),
		natpmp.WithGatewayPort(gw.Addr().Port()))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	next := func() natpmp.Announcement {
		t.Helper()
		select {
		case a := <-l.Announcements():
			return a
		case <-time.After(2 * time.Second):
			t.Fatal("no announcement")
		}
		return natpmp.Announcement{}
	}
	if a := next(); a.ExternalAddr != DefaultExternalIP {
		t.Fatalf("start-up announcement %+v", a)
	}
	newIP := netip.MustParseAddr("11.77.0.99")
	gw.SetExternalIP(newIP)
	if a := next(); a.ExternalAddr != newIP {
		t.Fatalf("change announcement %+v", a)
	}
	gw.Reboot()
	if a := next(); !a.Reboot || a.Epoch > 1 {
		t.Fatalf("reboot announcement %+v", a)
	}
}

func TestNATPMPUnsupportedOpcode(t *testing.T) {
	gw := NewGateway(t)
	reply := rawExchange(t, gw, []byte{0, 5})
	if len(reply) != 8 || reply[1] != 128+5 || reply[3] != byte(natpmp.ResultUnsupportedOpcode) {
		t.Fatalf("reply % x", reply)
	}
	// Malformed: ignored, but captured.
	if reply := rawExchange(t, gw, []byte{0, 1, 0}); reply != nil {
		t.Fatalf("answered a malformed request: % x", reply)
	}
	if len(gw.RequestsFor("natpmp:malformed")) != 1 {
		t.Fatalf("captured %+v", gw.Requests())
	}
}

func TestNATPMPOnlyGatewayRefusesPCP(t *testing.T) {
	gw := NewGateway(t, WithProtocols(NATPMP))
	if gw.HTTPAddr().IsValid() || gw.Location() != "" {
		t.Fatal("NAT-PMP-only gateway serves HTTP")
	}
	c, err := pcp.NewClient(gw.Addr(), pcp.WithFirstTimeout(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Announce(testCtx(t))
	var ve *pcp.VersionError
	if !errors.As(err, &ve) || ve.ServerVersion != 0 {
		t.Fatalf("got %v, want a VersionError from a NAT-PMP server", err)
	}
	if _, err := natpmpClient(t, gw).ExternalAddress(testCtx(t)); err != nil {
		t.Fatal(err)
	}
}
