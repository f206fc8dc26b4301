package portmaptest

import (
	"context"
	"errors"
	"net/netip"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portmap-dev/portmap/natpmp"
	"github.com/portmap-dev/portmap/upnp"
)

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		msg  string
	}{
		{"non-loopback listen", Config{Listen: netip.MustParseAddrPort("0.0.0.0:0")}, "non-loopback"},
		{"IGD version", Config{IGDVersion: 3}, "IGDVersion"},
		{"protocol", Config{Protocols: []Protocol{"smtp"}}, "unknown protocol"},
		{"port range", Config{MinPort: 10, MaxPort: 5}, "port range"},
		{"IPv6 external address", Config{ExternalIP: netip.MustParseAddr("2001:db8::1")}, "not IPv4"},
		{"lifetimes", Config{PCPMinLifetime: time.Hour, PCPMaxLifetime: time.Minute}, "PCPMinLifetime"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gw, err := Start(context.Background(), tc.cfg)
			if err == nil {
				gw.Close()
				t.Fatal("started")
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("error %q does not mention %q", err, tc.msg)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	gw := NewGateway(t)
	if !gw.Addr().Addr().IsLoopback() || gw.Addr().Port() == 0 || gw.HTTPAddr() != gw.Addr() {
		t.Fatalf("Addr %v HTTPAddr %v", gw.Addr(), gw.HTTPAddr())
	}
	if gw.GatewayFlag() != "127.0.0.1:"+strconv.Itoa(int(gw.Addr().Port())) {
		t.Fatalf("GatewayFlag %q", gw.GatewayFlag())
	}
	cfg := gw.Config()
	if cfg.IGDVersion != 2 || len(cfg.Protocols) != 3 || cfg.ExternalIP != DefaultExternalIP || gw.ExternalIP() != DefaultExternalIP {
		t.Fatalf("config %+v", cfg)
	}
	if e := gw.Epoch(); e < 3600 || e > 3610 || gw.BootID() != 1 {
		t.Fatalf("epoch %d boot %d", e, gw.BootID())
	}
	opts := gw.DiscoverOptions()
	if opts.Gateway != gw.Addr().Addr() || opts.SSDPPort != gw.Addr().Port() || !opts.NoMulticast {
		t.Fatalf("DiscoverOptions %+v", opts)
	}
}

func TestContextEndsGateway(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	gw, err := Start(ctx, Config{})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case <-gw.closing:
	case <-time.After(2 * time.Second):
		t.Fatal("gateway still open after its context ended")
	}
	gw.Close() // waits; idempotent
	if err := gw.RebootNewHTTPPort(); err == nil {
		t.Fatal("RebootNewHTTPPort on a closed gateway")
	}
}

// TestCloseEndsGoroutines runs every kind of traffic, with delays pending,
// and checks that Close leaves no goroutine behind.
func TestCloseEndsGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	conn := listenUDP(t)
	gw, err := Start(context.Background(), Config{AnnounceAddrs: []netip.AddrPort{udpAddr(conn)}, AnnounceCount: 5})
	if err != nil {
		t.Fatal(err)
	}
	hc := upnp.NewHTTPClient(netip.Addr{})
	opts := gw.DiscoverOptions()
	opts.HTTPClient = hc
	igd, err := upnp.Discover(testCtx(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := igd.WAN.GetExternalIPAddress(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	nc, err := natpmp.NewClient(gw.Addr(), natpmp.WithMaxAttempts(1))
	if err != nil {
		t.Fatal(err)
	}
	gw.SetDelay(time.Hour) // replies pending in goroutines
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	_, _ = nc.ExternalAddress(ctx)
	cancel()
	nc.Close()
	start := time.Now()
	gw.Close()
	if d := time.Since(start); d > time.Second {
		t.Errorf("Close took %v", d)
	}
	hc.CloseIdleConnections()
	deadline := time.Now().Add(3 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestDecide(t *testing.T) {
	gw := NewGateway(t)
	decide := func(action string, udp bool) (bool, int, bool) {
		gw.mu.Lock()
		defer gw.mu.Unlock()
		return gw.decideLocked(action, udp)
	}
	type res struct {
		drop     bool
		code     int
		injected bool
	}
	check := func(action string, udp bool, want res) {
		t.Helper()
		d, c, i := decide(action, udp)
		if (res{d, c, i}) != want {
			t.Errorf("%s: got %v %d %v, want %+v", action, d, c, i, want)
		}
	}
	check("AddPortMapping", false, res{})
	gw.FailNext("AddPortMapping", 718)
	gw.FailNext("AddPortMapping", 725)
	gw.FailAlways("upnp:*", 501)
	check("AddPortMapping", false, res{false, 718, true})
	check("AddPortMapping", false, res{false, 725, true})
	check("AddPortMapping", false, res{false, 501, true})
	check("GetStatusInfo", false, res{false, 501, true})
	check("natpmp:map", true, res{})
	gw.FailNext("*", Drop)
	check("pcp:peer", true, res{true, Drop, true})
	gw.FailNext("natpmp:*", 3)
	check("natpmp:address", true, res{false, 3, true})
	gw.DropNext(1)
	check("natpmp:address", false, res{}) // DropNext is for UDP only
	check("natpmp:address", true, res{true, Drop, true})
	gw.ClearFailures()
	check("AddPortMapping", false, res{})
	gw.SetDropRate(1)
	check("ssdp:search", true, res{true, Drop, true})
	gw.SetDropRate(0)
	check("ssdp:search", true, res{})
}

func TestHTTPKnobs(t *testing.T) {
	gw := NewGateway(t)
	gw.FailNext("http:description", 404)
	short, cancel := context.WithTimeout(testCtx(t), 300*time.Millisecond)
	defer cancel()
	if _, err := upnp.Discover(short, gw.DiscoverOptions()); !errors.Is(err, upnp.ErrNoIGD) {
		t.Fatalf("description 404: %v, want ErrNoIGD", err)
	}
	wan := discover(t, gw).WAN
	gw.FailNext("GetExternalIPAddress", Drop)
	if _, err := wan.GetExternalIPAddress(testCtx(t)); err == nil {
		t.Fatal("dropped request answered")
	}
	gw.SetDelay(100 * time.Millisecond)
	start := time.Now()
	if _, err := wan.GetExternalIPAddress(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Fatalf("answered after %v", d)
	}
	reqs := gw.RequestsFor("GetExternalIPAddress")
	if len(reqs) != 2 || reqs[0].Code != Drop || reqs[1].Code != 0 || reqs[1].ServiceType != ipConn2 {
		t.Fatalf("captured %+v", reqs)
	}
}

func TestExternalIPStates(t *testing.T) {
	gw := NewGateway(t)
	wan := discover(t, gw).WAN
	ctx := testCtx(t)
	gw.SetExternalIP(netip.Addr{})
	if _, err := wan.GetExternalIPAddress(ctx); !errors.Is(err, upnp.ErrNoExternalAddress) {
		t.Fatalf("no address: %v", err)
	}
	if st, err := wan.GetStatusInfo(ctx); err != nil || st.Connected() {
		t.Fatalf("status %+v, %v", st, err)
	}
	private := netip.MustParseAddr("100.64.0.9")
	gw.SetExternalIP(private)
	if ip, err := wan.GetExternalIPAddress(ctx); err != nil || ip != private {
		t.Fatalf("CGNAT address: %v, %v", ip, err)
	}
	defer func() {
		if recover() == nil {
			t.Error("SetExternalIP accepted IPv6")
		}
	}()
	gw.SetExternalIP(netip.MustParseAddr("2001:db8::1"))
}
