package upnp

import (
	"context"
	"errors"
	"net"
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
	for _, r := range []*discResponder{gw, mc} {
		for _, st := range DefaultSearchTargets {
			if _, ok := r.sts.Load(st); !ok {
				t.Errorf("responder %s never asked for %s", r.AddrPort(), st)
			}
		}
		// Within 600 ms: IGD:1 at 0, the other four at 100 ms, all
		// five again at 350 ms (the next round is at 1.1 s).
		// Let the responder catch up first.
		for i := 0; i < 50 && r.searches.Load() < 10; i++ {
			time.Sleep(20 * time.Millisecond)
		}
		if n := r.searches.Load(); n != 10 {
			t.Errorf("responder %s got %d searches, want 10", r.AddrPort(), n)
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
