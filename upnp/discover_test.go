package upnp

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

const miniupnpdDesc = "miniupnpd-2.3.1-rootDesc.xml"

// miniupnpdWAN is the state of the captured miniupnpd's only WAN
// connection service (its relative URLs resolve against the fake).
func miniupnpdWAN() map[string]discWAN {
	return map[string]discWAN{"/ctl/IPConn": {Status: "Connected", IP: "11.77.0.1"}}
}

func TestDiscoverPaths(t *testing.T) {
	stIGD2 := func(st string) bool { return st == STIGDv2 }
	rootOnly := func(st string) bool { return st == STRootDevice }
	tests := []struct {
		name string
		// setup returns the unicast ("gateway") and multicast responders.
		setup func(t *testing.T, loc string) (gw, mc *discResponder)
	}{
		{"unicast", func(t *testing.T, loc string) (*discResponder, *discResponder) {
			return newDiscResponder(t, loc).start(), nil
		}},
		{"multicast only", func(t *testing.T, loc string) (*discResponder, *discResponder) {
			// Devices that ignore unicast M-SEARCH (several older
			// firmwares only listen on the multicast group).
			gw := newDiscResponder(t, loc)
			gw.answers = func(string) bool { return false }
			return gw.start(), newDiscResponder(t, loc).start()
		}},
		{"rootdevice only", func(t *testing.T, loc string) (*discResponder, *discResponder) {
			gw := newDiscResponder(t, loc)
			gw.answers = rootOnly
			return gw.start(), nil
		}},
		{"IGD:2 only", func(t *testing.T, loc string) (*discResponder, *discResponder) {
			gw := newDiscResponder(t, loc)
			gw.answers = stIGD2
			return gw.start(), nil
		}},
		{"reply from another port", func(t *testing.T, loc string) (*discResponder, *discResponder) {
			gw := newDiscResponder(t, loc)
			c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				t.Fatal(err)
			}
			gw.from = c
			return gw.start(), nil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			discNoLeak(t)
			igdSrv := newDiscIGD(t, discFixture(t, miniupnpdDesc), miniupnpdWAN())
			gw, mc := tt.setup(t, igdSrv.URL())
			o := discOptions(t, gw, mc)
			o.Timeout = 10 * time.Second
			start := time.Now()
			igd, err := Discover(context.Background(), o)
			took := time.Since(start)
			if err != nil {
				t.Fatal(err)
			}
			if igd.Version != 2 || igd.FriendlyName != "Debian router" || igd.BootID != 1795305623 {
				t.Errorf("igd = %+v", igd)
			}
			if got := igd.WAN.Service.ControlURL.String(); got != igdSrv.srv.URL+"/ctl/IPConn" {
				t.Errorf("control URL = %s", got)
			}
			if igd.Firewall == nil || !strings.HasSuffix(igd.Firewall.Service.ControlURL.Path, "/ctl/IP6FCtl") {
				t.Errorf("firewall = %+v", igd.Firewall)
			}
			if igd.CommonInterface == nil || igd.CommonInterface.ControlURL.Path != "/ctl/CmnIfCfg" {
				t.Errorf("common interface = %+v", igd.CommonInterface)
			}
			if len(igd.Services) != 5 {
				t.Errorf("%d services, want 5", len(igd.Services))
			}
			// One WAN service: nothing to choose, no SOAP call made.
			if n := igdSrv.soapCalls(); n != 0 {
				t.Errorf("%d SOAP calls during discovery, want 0", n)
			}
			// It returns on the first usable answer, not at the end of
			// Timeout (10 s). (Typically under 2 ms here; the bound is
			// loose for loaded machines. e2e measures against miniupnpd.)
			if took > 2*time.Second {
				t.Errorf("Discover took %v", took)
			}
			t.Logf("Discover took %v", took)
		})
	}
}

func TestDiscoverSendsAllTargets(t *testing.T) {
	discNoLeak(t)
	igdSrv := newDiscIGD(t, discFixture(t, miniupnpdDesc), miniupnpdWAN())
	gw := newDiscResponder(t, igdSrv.URL())
	gw.answers = func(string) bool { return false }
	gw.start()
	mc := newDiscResponder(t, igdSrv.URL())
	mc.answers = func(string) bool { return false }
	mc.start()
	o := discOptions(t, gw, mc)
	o.Timeout = 600 * time.Millisecond
	_, err := Discover(context.Background(), o)
	if !errors.Is(err, ErrNoIGD) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want ErrNoIGD wrapping DeadlineExceeded", err)
	}
	// Within 600 ms: IGD:1 at 0 to both, the other four at 100 ms to
	// the gateway only, all five again at 500 ms to both (the next round
	// is at 1.5 s).
	for _, c := range []struct {
		r    *discResponder
		want int32
	}{{gw, 10}, {mc, 6}} {
		r := c.r
		for _, st := range DefaultSearchTargets {
			if _, ok := r.sts.Load(st); !ok {
				t.Errorf("responder %s never asked for %s", r.AddrPort(), st)
			}
		}
		// Let the responder catch up first.
		for i := 0; i < 50 && r.searches.Load() < c.want; i++ {
			time.Sleep(20 * time.Millisecond)
		}
		if n := r.searches.Load(); n != c.want {
			t.Errorf("responder %s got %d searches, want %d", r.AddrPort(), n, c.want)
		}
	}
}

// While a device that answered is being described, Discover sends no
// more searches: the later rounds only cover lost datagrams, and a busy
// gateway (miniupnpd at 100 mappings) serves every M-SEARCH in the same
// loop as the description GET.
func TestDiscoverQuietWhileDescribing(t *testing.T) {
	discNoLeak(t)
	igdSrv := newDiscIGD(t, discFixture(t, miniupnpdDesc), miniupnpdWAN())
	igdSrv.delay = 1300 * time.Millisecond // past every retransmission round
	gw := newDiscResponder(t, igdSrv.URL()).start()
	o := discOptions(t, gw, nil)
	o.Timeout = 10 * time.Second
	if _, err := Discover(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	// IGD:1 once; the reply arrives before the secondary targets are due
	// at 100 ms, and the description GET holds everything after it.
	if n := gw.searches.Load(); n != 1 {
		t.Errorf("gateway got %d searches, want 1", n)
	}
}

// When the gateway's description turns out unusable, the searches held
// meanwhile go out after all (here: the round due at 1.1 s, with every
// target).
func TestDiscoverResumesAfterUnusableGateway(t *testing.T) {
	discNoLeak(t)
	igdSrv := newDiscIGD(t, discFixture(t, miniupnpdDesc), miniupnpdWAN())
	igdSrv.delay = 1200 * time.Millisecond
	gw := newDiscResponder(t, igdSrv.srv.URL+"/no-such-description.xml").start()
	o := discOptions(t, gw, nil)
	o.Timeout = 2 * time.Second
	if _, err := Discover(context.Background(), o); !errors.Is(err, ErrNoIGD) {
		t.Fatalf("err = %v, want ErrNoIGD", err)
	}
	for _, st := range DefaultSearchTargets {
		if _, ok := gw.sts.Load(st); !ok {
			t.Errorf("gateway never asked for %s", st)
		}
	}
}

// With the gateway named, Discover does not take another LAN device's
// answer, even when it comes first: mappings there would not see traffic
// arriving at the gateway.
func TestDiscoverTakesOnlyTheGateway(t *testing.T) {
	discNoLeak(t)
	igdSrv := newDiscIGD(t, discFixture(t, miniupnpdDesc), miniupnpdWAN())
	gw := newDiscResponder(t, igdSrv.URL())
	gw.answers = func(st string) bool { return st == STIGDv2 } // only at 100 ms
	gw.start()

	ln, err := net.Listen("tcp4", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	other := newDiscIGDOn(t, ln, discFixture(t, "desc-igd1-ppp.xml"), nil)
	mc := newDiscResponder(t, other.URL())
	mc.from, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2)})
	if err != nil {
		t.Fatal(err)
	}
	mc.start()

	o := discOptions(t, gw, mc)
	igd, err := Discover(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if igd.Gateway != gw.AddrPort().Addr() || igd.FriendlyName != "Debian router" {
		t.Errorf("found %s at %s, want the gateway's IGD", igd.FriendlyName, igd.Gateway)
	}
	if n := other.count("/rootDesc.xml"); n != 0 {
		t.Errorf("the other device's description was fetched %d times", n)
	}
	// DiscoverAll reports both.
	o.Wait = 300 * time.Millisecond
	igds, err := DiscoverAll(context.Background(), o)
	if err != nil || len(igds) != 2 {
		t.Errorf("DiscoverAll: %d IGDs, %v; want 2", len(igds), err)
	}
}

func TestReplierOnLocalNetwork(t *testing.T) {
	public := netip.MustParseAddr("198.51.100.7")
	onLinkPublic := netip.MustParseAddr("203.0.113.9")
	c := &discoverConfig{onLink: func(a netip.Addr) bool { return a == onLinkPublic }}
	for _, tt := range []struct {
		from netip.Addr
		ok   bool
	}{
		{netip.MustParseAddr("192.168.1.20"), true},
		{netip.MustParseAddr("fe80::1%eth0"), true},
		{onLinkPublic, true},
		{public, false},
		{netip.MustParseAddr("100.64.0.1"), false}, // carrier-grade NAT space: other customers
	} {
		err := c.replier(tt.from, true)
		if (err == nil) != tt.ok || (err != nil && !errors.Is(err, ErrUnsafeURL)) {
			t.Errorf("replier(%s) = %v, want ok=%v", tt.from, err, tt.ok)
		}
	}
	// A named IPv4 gateway: Discover takes only it, DiscoverAll any LAN device.
	c.Gateway = netip.MustParseAddr("192.168.1.1")
	if err := c.replier(netip.MustParseAddr("192.168.1.20"), false); !errors.Is(err, ErrUnsafeURL) {
		t.Errorf("Discover took another device: %v", err)
	}
	if err := c.replier(netip.MustParseAddr("192.168.1.1"), false); err != nil {
		t.Errorf("Discover refused the gateway: %v", err)
	}
	if err := c.replier(netip.MustParseAddr("192.168.1.20"), true); err != nil {
		t.Errorf("DiscoverAll refused a LAN device: %v", err)
	}
}

func TestInPrefixes(t *testing.T) {
	_, n4, _ := net.ParseCIDR("203.0.113.0/24")
	_, n6, _ := net.ParseCIDR("2001:db8:1::/64")
	n4x := &net.IPNet{IP: net.IPv4(198, 51, 100, 0), Mask: net.CIDRMask(120, 128)} // IPv4 in 16-byte form
	addrs := []net.Addr{n4, n6, n4x, &net.IPAddr{IP: net.IPv4(10, 0, 0, 1)}}
	for a, want := range map[string]bool{
		"203.0.113.9": true, "203.0.114.9": false, "2001:db8:1::5": true, "2001:db8:2::5": false,
		"198.51.100.3": true, "::ffff:203.0.113.1": true, "10.0.0.1": false,
	} {
		if got := inPrefixes(netip.MustParseAddr(a), addrs); got != want {
			t.Errorf("inPrefixes(%s) = %v, want %v", a, got, want)
		}
	}
}

func TestDiscoverRefusesUnsafeURLs(t *testing.T) {
	tests := []struct {
		name     string
		location func(igd *discIGD) string
		desc     string
	}{
		{"location off the LAN", func(*discIGD) string { return "http://203.0.113.9:5000/rootDesc.xml" }, miniupnpdDesc},
		{"location on another LAN host", func(*discIGD) string { return "http://192.168.1.77:5000/rootDesc.xml" }, miniupnpdDesc},
		{"location host name", func(*discIGD) string { return "http://router.lan:5000/rootDesc.xml" }, miniupnpdDesc},
		{"location not http", func(*discIGD) string { return "file:///etc/passwd" }, miniupnpdDesc},
		{"control URL off the LAN", func(g *discIGD) string { return g.URL() }, "desc-offhost-control.xml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Each waits out its Timeout (refused replies are not an
			// answer), so run them side by side. The timeout leaves time
			// for at least one reply to be judged on a loaded machine.
			t.Parallel()
			igdSrv := newDiscIGD(t, discFixture(t, tt.desc), miniupnpdWAN())
			gw := newDiscResponder(t, tt.location(igdSrv)).start()
			o := discOptions(t, gw, nil)
			o.Timeout = time.Second
			_, err := Discover(context.Background(), o)
			if !errors.Is(err, ErrNoIGD) || !errors.Is(err, ErrUnsafeURL) {
				t.Fatalf("err = %v, want ErrNoIGD and ErrUnsafeURL", err)
			}
		})
	}
}

func TestDiscoverAllowLANLocations(t *testing.T) {
	// With AllowLANLocations a LOCATION on another LAN address than the
	// replier is accepted. Loopback stands in for "another LAN host"
	// only when the replier is loopback too; so reply from 127.0.0.1 with
	// a LOCATION on 127.0.0.2 served by the fake.
	discNoLeak(t)
	ln, err := net.Listen("tcp4", "127.0.0.2:0")
	if err != nil {
		t.Skip("127.0.0.2 not available:", err)
	}
	igdSrv := newDiscIGDOn(t, ln, discFixture(t, miniupnpdDesc), miniupnpdWAN())
	gw := newDiscResponder(t, igdSrv.URL()).start()
	o := discOptions(t, gw, nil)
	o.Timeout = time.Second
	if _, err := Discover(context.Background(), o); !errors.Is(err, ErrUnsafeURL) {
		t.Fatalf("default policy: err = %v, want ErrUnsafeURL", err)
	}
	o.AllowLANLocations = true
	igd, err := Discover(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if igd.Location.Hostname() != "127.0.0.2" {
		t.Errorf("location = %s", igd.Location)
	}
}

func TestDiscoverChoosesWAN(t *testing.T) {
	const two = "desc-two-wan-connection-devices.xml"
	tests := []struct {
		name     string
		desc     string
		wan      map[string]discWAN
		want     string // control path
		wantSOAP bool
	}{
		{"connected public beats disconnected first", two, map[string]discWAN{
			"/Public_UPNP_C3": {Status: "Disconnected", IP: "0.0.0.0"},
			"/Public_UPNP_C4": {Status: "Connected", IP: "198.51.100.20"},
		}, "/Public_UPNP_C4", true},
		{"public beats double NAT", two, map[string]discWAN{
			"/Public_UPNP_C3": {Status: "Connected", IP: "100.64.3.4"},
			"/Public_UPNP_C4": {Status: "Connected", IP: "198.51.100.20"},
		}, "/Public_UPNP_C4", true},
		{"double NAT beats disconnected", two, map[string]discWAN{
			"/Public_UPNP_C3": {Status: "Connected", IP: "192.168.178.20"},
			"/Public_UPNP_C4": {Status: "Disconnected", IP: ""},
		}, "/Public_UPNP_C3", true},
		{"first on tie", two, map[string]discWAN{
			"/Public_UPNP_C3": {Status: "Connected", IP: "198.51.100.1"},
			"/Public_UPNP_C4": {Status: "Connected", IP: "198.51.100.2"},
		}, "/Public_UPNP_C3", true},
		{"any when none answers", two, map[string]discWAN{}, "/Public_UPNP_C3", true},
		{"dslforum: IP beats disconnected PPP", "desc-dslforum.xml", map[string]discWAN{
			"/upnp/control/wanpppconn1":      {Status: "Disconnected", IP: ""},
			"/upnp/control/wanipconnection1": {Status: "Connected", IP: "203.0.113.50"},
		}, "/upnp/control/wanipconnection1", true},
		{"IGD:1 PPP only", "desc-igd1-ppp.xml", map[string]discWAN{
			"/upnp/control/WANPPPConn1": {Status: "Connected", IP: "203.0.113.50"},
		}, "/upnp/control/WANPPPConn1", false},
		{"URLBase and uuid: paths", "desc-urlbase.xml", map[string]discWAN{}, "/uuid:0000e068-20a0-00e0-20a0-48a802086049/WANIPConnection:1", false},
		{"IGD embedded below another root", "desc-embedded-igd.xml", map[string]discWAN{}, "/igd/ipconn", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			discNoLeak(t)
			igdSrv := newDiscIGD(t, discFixture(t, tt.desc), tt.wan)
			gw := newDiscResponder(t, igdSrv.URL()).start()
			igd, err := Discover(context.Background(), discOptions(t, gw, nil))
			if err != nil {
				t.Fatal(err)
			}
			if got := igd.WAN.Service.ControlURL.Path; got != tt.want {
				t.Errorf("chose %s, want %s", got, tt.want)
			}
			if soap := igdSrv.soapCalls(); (soap > 0) != tt.wantSOAP {
				t.Errorf("%d status calls, want some: %v", soap, tt.wantSOAP)
			}
		})
	}
}

func TestDiscoverEmbeddedIGDDetails(t *testing.T) {
	discNoLeak(t)
	igdSrv := newDiscIGD(t, discFixture(t, "desc-embedded-igd.xml"), nil)
	gw := newDiscResponder(t, igdSrv.URL()).start()
	igd, err := Discover(context.Background(), discOptions(t, gw, nil))
	if err != nil {
		t.Fatal(err)
	}
	if igd.FriendlyName != "NAS Router" || igd.Version != 2 || igd.UDN != "uuid:aaaaaaaa-0000-0000-0000-000000000002" {
		t.Errorf("igd = %+v", igd)
	}
	if igd.Firewall == nil || igd.Firewall.Service.ControlURL.Path != "/igd/fw" {
		t.Errorf("firewall = %+v", igd.Firewall)
	}
	if igd.CommonInterface != nil {
		t.Errorf("common interface = %+v, want nil", igd.CommonInterface)
	}
}

func TestDiscoverSkipsNonIGD(t *testing.T) {
	// A printer answering upnp:rootdevice first must not stop the search:
	// Discover goes on to the IGD.
	discNoLeak(t)
	printer := newDiscIGD(t, `<?xml version="1.0"?><root xmlns="urn:schemas-upnp-org:device-1-0"><device><deviceType>urn:schemas-upnp-org:device:Printer:1</deviceType><UDN>uuid:printer</UDN></device></root>`, nil)
	igdSrv := newDiscIGD(t, discFixture(t, miniupnpdDesc), miniupnpdWAN())
	mc := newDiscResponder(t, printer.URL()).start()
	gw := newDiscResponder(t, igdSrv.URL())
	gw.answers = func(st string) bool { return st == STIGDv1 }
	gw.start()
	igd, err := Discover(context.Background(), discOptions(t, gw, mc))
	if err != nil {
		t.Fatal(err)
	}
	if igd.Location.String() != igdSrv.URL() {
		t.Errorf("location = %s", igd.Location)
	}
}

func TestDiscoverAll(t *testing.T) {
	discNoLeak(t)
	a := newDiscIGD(t, discFixture(t, miniupnpdDesc), miniupnpdWAN())
	b := newDiscIGD(t, discFixture(t, "desc-igd1-ppp.xml"), nil)
	gw := newDiscResponder(t, a.URL()).start()
	mc := newDiscResponder(t, b.URL()).start()
	o := discOptions(t, gw, mc)
	o.Wait = 300 * time.Millisecond
	start := time.Now()
	igds, err := DiscoverAll(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < o.Wait || took > o.Wait+time.Second {
		t.Errorf("DiscoverAll took %v with Wait %v", took, o.Wait)
	}
	if len(igds) != 2 {
		t.Fatalf("%d IGDs, want 2", len(igds))
	}
	names := igds[0].FriendlyName + "|" + igds[1].FriendlyName
	if !strings.Contains(names, "Debian router") || !strings.Contains(names, "Speedport") {
		t.Errorf("found %s", names)
	}
}

func TestDiscoverAllNone(t *testing.T) {
	discNoLeak(t)
	gw := newDiscResponder(t, "")
	gw.answers = func(string) bool { return false }
	gw.start()
	o := discOptions(t, gw, nil)
	o.Wait = 100 * time.Millisecond
	_, err := DiscoverAll(context.Background(), o)
	if !errors.Is(err, ErrNoIGD) {
		t.Fatalf("err = %v, want ErrNoIGD", err)
	}
}

func TestDiscoverDescriptionErrors(t *testing.T) {
	tests := []struct {
		name string
		desc string
		want error
	}{
		{"not XML", "hello", ErrMalformedDescription},
		{"no WAN service", `<root><device><deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:1</deviceType></device></root>`, ErrNoWANConnection},
		{"too large", "<root>" + strings.Repeat(" ", maxDescriptionSize) + "</root>", ErrDescriptionTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel() // each waits out its Timeout
			igdSrv := newDiscIGD(t, tt.desc, nil)
			gw := newDiscResponder(t, igdSrv.URL()).start()
			o := discOptions(t, gw, nil)
			o.Timeout = time.Second
			_, err := Discover(context.Background(), o)
			if !errors.Is(err, ErrNoIGD) || !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want ErrNoIGD and %v", err, tt.want)
			}
		})
	}
}

func TestDiscoverContextCanceled(t *testing.T) {
	discNoLeak(t)
	gw := newDiscResponder(t, "")
	gw.answers = func(string) bool { return false }
	gw.start()
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(50 * time.Millisecond); cancel() }()
	start := time.Now()
	_, err := Discover(ctx, discOptions(t, gw, nil))
	if !errors.Is(err, context.Canceled) || !errors.Is(err, ErrNoIGD) {
		t.Fatalf("err = %v", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("returned %v after cancel", took)
	}
}

func TestDiscoverNoDestination(t *testing.T) {
	_, err := Discover(context.Background(), DiscoverOptions{NoMulticast: true, Timeout: 100 * time.Millisecond})
	if !errors.Is(err, ErrNoIGD) {
		t.Fatalf("err = %v", err)
	}
	// A bad interface name fails before anything is sent.
	if _, err := Discover(context.Background(), DiscoverOptions{Interface: "no-such-if0"}); err == nil || errors.Is(err, ErrNoIGD) {
		t.Errorf("bad interface: err = %v", err)
	}
	if _, err := ListenNotify(NotifyOptions{Interface: "no-such-if0"}); err == nil {
		t.Error("ListenNotify with a bad interface succeeded")
	}
}
