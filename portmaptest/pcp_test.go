package portmaptest

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/portmap-dev/portmap/pcp"
)

func pcpClient(t *testing.T, gw *Gateway, opts ...pcp.Option) *pcp.Client {
	t.Helper()
	opts = append([]pcp.Option{pcp.WithFirstTimeout(50 * time.Millisecond)}, opts...)
	c, err := pcp.NewClient(gw.Addr(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestPCPMapRenewDelete(t *testing.T) {
	gw := NewGateway(t)
	c := pcpClient(t, gw)
	ctx := testCtx(t)
	m, err := c.Map(ctx, pcp.MapRequest{Protocol: pcp.TCP, InternalPort: 9000, Lifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if m.External != netip.AddrPortFrom(DefaultExternalIP, 9000) || m.Lifetime != time.Hour {
		t.Fatalf("Map = %+v", m)
	}
	tab := gw.Mappings()
	if len(tab) != 1 || tab[0].Protocol != PCP || tab[0].Nonce != m.Nonce || tab[0].InternalAddr != loopback4 {
		t.Fatalf("table %+v", tab)
	}
	r, err := c.Renew(ctx, m, 2*time.Hour)
	if err != nil || r.External != m.External || r.Lifetime != 2*time.Hour {
		t.Fatalf("Renew = %+v, %v", r, err)
	}
	if err := c.Delete(ctx, r); err != nil {
		t.Fatal(err)
	}
	if tab := gw.Mappings(); len(tab) != 0 {
		t.Fatalf("after delete %+v", tab)
	}
	// Deleting again: the mapping is gone, which is success (RFC 6887 §15).
	if err := c.Delete(ctx, r); err != nil {
		t.Fatalf("second delete: %v", err)
	}
}

func TestPCPLifetimeClamp(t *testing.T) {
	gw := NewGateway(t)
	c := pcpClient(t, gw)
	for _, tc := range []struct{ ask, want time.Duration }{
		{10 * time.Second, DefaultPCPMinLifetime},
		{7 * 24 * time.Hour, DefaultPCPMaxLifetime},
		{time.Hour, time.Hour},
	} {
		m, err := c.Map(testCtx(t), pcp.MapRequest{Protocol: pcp.UDP, InternalPort: 5000, Lifetime: tc.ask})
		if err != nil || m.Lifetime != tc.want {
			t.Errorf("asked %v: got %+v, %v; want %v", tc.ask, m, err, tc.want)
		}
		if err := c.Delete(testCtx(t), m); err != nil {
			t.Fatal(err)
		}
	}
}

func TestPCPNonceMismatch(t *testing.T) {
	gw := NewGateway(t)
	c := pcpClient(t, gw)
	ctx := testCtx(t)
	m, err := c.Map(ctx, pcp.MapRequest{Protocol: pcp.TCP, InternalPort: 9100, Lifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	other := *m
	other.Nonce = pcp.NewNonce()
	if _, err := c.Map(ctx, pcp.MapRequest{Protocol: pcp.TCP, InternalPort: 9100, Lifetime: time.Hour, Nonce: other.Nonce}); !errors.Is(err, &pcp.ResultError{Code: pcp.NotAuthorized}) {
		t.Fatalf("renew with another nonce: %v, want NOT_AUTHORIZED", err)
	}
	if err := c.Delete(ctx, &other); !errors.Is(err, &pcp.ResultError{Code: pcp.NotAuthorized}) {
		t.Fatalf("delete with another nonce: %v, want NOT_AUTHORIZED", err)
	}
	if len(gw.Mappings()) != 1 {
		t.Fatal("mapping gone")
	}
}

func TestPCPConflictAndPreferFailure(t *testing.T) {
	gw := NewGateway(t)
	if err := gw.AddMapping(Mapping{Transport: "UDP", ExternalPort: 9200, InternalAddr: otherHost, InternalPort: 9200}); err != nil {
		t.Fatal(err)
	}
	c := pcpClient(t, gw)
	m, err := c.Map(testCtx(t), pcp.MapRequest{Protocol: pcp.UDP, InternalPort: 9200, Lifetime: time.Hour})
	if err != nil || m.External.Port() != 9201 {
		t.Fatalf("Map = %+v, %v; want port 9201", m, err)
	}
	_, err = c.Map(testCtx(t), pcp.MapRequest{
		Protocol: pcp.UDP, InternalPort: 9300, Lifetime: time.Hour,
		SuggestedExternal: netip.AddrPortFrom(netip.IPv4Unspecified(), 9200),
		Options:           pcp.Options{PreferFailure: true},
	})
	if !errors.Is(err, &pcp.ResultError{Code: pcp.CannotProvideExternal}) {
		t.Fatalf("PREFER_FAILURE: %v, want CANNOT_PROVIDE_EXTERNAL", err)
	}
}

func TestPCPThirdPartyAndSecureMode(t *testing.T) {
	for _, secure := range []bool{false, true} {
		var opts []Option
		if secure {
			opts = append(opts, WithSecureMode())
		}
		gw := NewGateway(t, opts...)
		c := pcpClient(t, gw)
		_, err := c.Map(testCtx(t), pcp.MapRequest{Protocol: pcp.TCP, InternalPort: 9400, Lifetime: time.Hour, Options: pcp.Options{ThirdParty: otherHost}})
		if secure != errors.Is(err, &pcp.ResultError{Code: pcp.NotAuthorized}) {
			t.Fatalf("secure=%v: %v", secure, err)
		}
		if !secure && (len(gw.Mappings()) != 1 || gw.Mappings()[0].InternalAddr != otherHost) {
			t.Fatalf("table %+v", gw.Mappings())
		}
	}
}

func TestPCPAddressMismatch(t *testing.T) {
	gw := NewGateway(t)
	c := pcpClient(t, gw, pcp.WithClientAddr(netip.MustParseAddr("10.0.0.5")))
	_, err := c.Map(testCtx(t), pcp.MapRequest{Protocol: pcp.TCP, InternalPort: 9500, Lifetime: time.Hour})
	if !errors.Is(err, &pcp.ResultError{Code: pcp.AddressMismatch}) {
		t.Fatalf("got %v, want ADDRESS_MISMATCH", err)
	}
}

func TestPCPFailNext(t *testing.T) {
	gw := NewGateway(t)
	c := pcpClient(t, gw)
	gw.FailNext("pcp:map", int(pcp.NoResources))
	_, err := c.Map(testCtx(t), pcp.MapRequest{Protocol: pcp.TCP, InternalPort: 9600, Lifetime: time.Hour})
	var re *pcp.ResultError
	if !errors.As(err, &re) || re.Code != pcp.NoResources || re.Lifetime != 30*time.Second {
		t.Fatalf("got %v, want NO_RESOURCES with a 30 s lifetime", err)
	}
	if r := gw.RequestsFor("pcp:map"); len(r) != 1 || r[0].PCP == nil || r[0].PCP.Data.InternalPort != 9600 || !r[0].Injected {
		t.Fatalf("captured %+v", r)
	}
}

// TestPCPRefuse: RefusePCP turns PCP off at run time; requests then get
// the NAT-PMP-only router's reply (UNSUPP_VERSION, version 0), and turning
// it back on restores PCP.
func TestPCPRefuse(t *testing.T) {
	gw := NewGateway(t)
	c := pcpClient(t, gw)
	if _, err := c.Announce(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	gw.RefusePCP(true)
	_, err := c.Map(testCtx(t), pcp.MapRequest{Protocol: pcp.TCP, InternalPort: 9650, Lifetime: time.Hour})
	var ve *pcp.VersionError
	if !errors.As(err, &ve) || ve.ServerVersion != 0 || !ve.NATPMP {
		t.Fatalf("with PCP refused: %v, want UNSUPP_VERSION from a NAT-PMP server", err)
	}
	if len(gw.Mappings()) != 0 {
		t.Errorf("refused request mapped: %+v", gw.Mappings())
	}
	gw.RefusePCP(false)
	if _, err := c.Map(testCtx(t), pcp.MapRequest{Protocol: pcp.TCP, InternalPort: 9650, Lifetime: time.Hour}); err != nil {
		t.Fatalf("after RefusePCP(false): %v", err)
	}
}

func TestPCPAnnounceAndReboot(t *testing.T) {
	gw := NewGateway(t)
	c := pcpClient(t, gw)
	a, err := c.Announce(testCtx(t))
	if err != nil || a.Rebooted || a.Epoch < 3600 {
		t.Fatalf("Announce = %+v, %v", a, err)
	}
	m, err := c.Map(testCtx(t), pcp.MapRequest{Protocol: pcp.TCP, InternalPort: 9700, Lifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	gw.Reboot()
	a, err = c.Announce(testCtx(t))
	if err != nil || !a.Rebooted {
		t.Fatalf("after reboot Announce = %+v, %v; want Rebooted", a, err)
	}
	// The mapping is gone; renewing recreates it on the same port.
	r, err := c.Renew(testCtx(t), m, time.Hour)
	if err != nil || r.External != m.External {
		t.Fatalf("Renew after reboot = %+v, %v", r, err)
	}
}

func TestPCPUnsolicited(t *testing.T) {
	var mu sync.Mutex
	var events []pcp.Event
	got := make(chan struct{}, 16)
	conn := listenUDP(t)
	gw := NewGateway(t, WithAnnounceAddrs(udpAddr(conn)))
	c := pcpClient(t, gw, pcp.WithEventHandler(func(e pcp.Event) {
		mu.Lock()
		events = append(events, e)
		mu.Unlock()
		got <- struct{}{}
	}))
	if _, err := c.Map(testCtx(t), pcp.MapRequest{Protocol: pcp.TCP, InternalPort: 9800, Lifetime: time.Hour}); err != nil {
		t.Fatal(err)
	}
	newIP := netip.MustParseAddr("11.77.0.42")
	gw.SetExternalIP(newIP)
	select {
	case <-got:
	case <-time.After(2 * time.Second):
		t.Fatal("no unsolicited MAP response")
	}
	mu.Lock()
	e := events[0]
	mu.Unlock()
	if e.Kind != pcp.EventMapping || e.Response.Data.ExternalAddr.Unmap() != newIP || e.Response.Data.InternalPort != 9800 {
		t.Fatalf("event %+v", e)
	}
	// The ANNOUNCE of a reboot goes to the announce addresses.
	gw.Reboot()
	buf := make([]byte, 1200)
	if err := conn.SetReadDeadline(time.Now().Add(2 * time.Second)); err != nil {
		t.Fatal(err)
	}
	for {
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		r, err := pcp.ParseResponse(buf[:n])
		if err != nil || r.Epoch >= 3600 {
			continue // NAT-PMP announcements share the address; the start-up ANNOUNCE
		}
		if r.Opcode != pcp.OpAnnounce || r.Epoch > 1 {
			t.Fatalf("announcement %+v", r)
		}
		return
	}
}

func TestPCPPeer(t *testing.T) {
	gw := NewGateway(t)
	c := pcpClient(t, gw)
	ctx := testCtx(t)
	m, err := c.Map(ctx, pcp.MapRequest{Protocol: pcp.UDP, InternalPort: 9900, Lifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	remote := netip.MustParseAddrPort("198.51.100.7:3478")
	p, err := c.Peer(ctx, pcp.PeerRequest{Protocol: pcp.UDP, InternalPort: 9900, Remote: remote, Lifetime: time.Hour})
	if err != nil || p.External != m.External {
		t.Fatalf("Peer = %+v, %v; want the MAP's external %v", p, err, m.External)
	}
	tab := gw.Mappings()
	if len(tab) != 2 || !tab[1].Peer && !tab[0].Peer {
		t.Fatalf("table %+v", tab)
	}
	if err := c.Delete(ctx, p); err != nil {
		t.Fatal(err)
	}
	if tab := gw.Mappings(); len(tab) != 1 || tab[0].Peer {
		t.Fatalf("after delete %+v", tab)
	}
}

func TestPCPRawErrors(t *testing.T) {
	gw := NewGateway(t)
	header := func(version, op byte) []byte {
		b := make([]byte, 24)
		b[0], b[1] = version, op
		a := netip.AddrFrom4([4]byte{127, 0, 0, 1}).As16() // IPv4-mapped
		copy(b[8:], a[:])
		return b
	}
	for _, tc := range []struct {
		name string
		pkt  []byte
		code pcp.ResultCode
	}{
		{"version 1", header(1, 0), pcp.UnsuppVersion},
		{"unknown opcode", header(2, 9), pcp.UnsuppOpcode},
		{"short MAP", header(2, 1), pcp.MalformedRequest},
		{"length not multiple of 4", append(header(2, 0), 0), pcp.MalformedRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reply := rawExchange(t, gw, tc.pkt)
			if len(reply) < 24 || reply[0] != pcp.Version || reply[1] != 0x80|tc.pkt[1] || pcp.ResultCode(reply[3]) != tc.code {
				t.Fatalf("reply % x, want version 2 result %v", reply, tc.code)
			}
			if epoch := binary.BigEndian.Uint32(reply[8:]); epoch < 3600 {
				t.Errorf("epoch %d", epoch)
			}
		})
	}
	// Responses (R bit) are never answered.
	if reply := rawExchange(t, gw, header(2, 0x80)); reply != nil {
		t.Fatalf("answered a response: % x", reply)
	}
}
