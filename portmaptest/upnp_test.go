package portmaptest

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/portmap-dev/portmap/upnp"
)

func discover(t *testing.T, gw *Gateway) *upnp.IGD {
	t.Helper()
	igd, err := upnp.Discover(testCtx(t), gw.DiscoverOptions())
	if err != nil {
		t.Fatalf("Discover: %v", err)
	}
	return igd
}

func TestUPnPDiscover(t *testing.T) {
	for _, tc := range []struct {
		name     string
		opts     []Option
		version  int
		firewall bool
	}{
		{"v2", nil, 2, true},
		{"v1", []Option{WithIGDv1()}, 1, false},
		{"v2 without firewall", []Option{WithConfig(Config{NoFirewallControl: true})}, 2, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gw := NewGateway(t, tc.opts...)
			igd := discover(t, gw)
			if igd.Version != tc.version || igd.WAN == nil || igd.WAN.Version != tc.version {
				t.Fatalf("IGD version %d, WAN %+v; want %d", igd.Version, igd.WAN, tc.version)
			}
			if (igd.Firewall != nil) != tc.firewall {
				t.Errorf("firewall service present = %v, want %v", igd.Firewall != nil, tc.firewall)
			}
			if igd.CommonInterface == nil {
				t.Error("no WANCommonInterfaceConfig")
			}
			if igd.BootID != 1 {
				t.Errorf("BootID %d, want 1", igd.BootID)
			}
			if igd.Location.String() != gw.Location() {
				t.Errorf("Location %v, want %v", igd.Location, gw.Location())
			}
			ip, err := igd.WAN.GetExternalIPAddress(testCtx(t))
			if err != nil || ip != DefaultExternalIP {
				t.Errorf("GetExternalIPAddress = %v, %v", ip, err)
			}
			if len(gw.RequestsFor("ssdp:search")) == 0 || len(gw.RequestsFor("http:description")) != 1 {
				t.Errorf("captured %+v", gw.Requests())
			}
		})
	}
}

func TestUPnPAddListDelete(t *testing.T) {
	gw := NewGateway(t)
	ctx := testCtx(t)
	wan := discover(t, gw).WAN
	desc := `pmx <&>"' ]]> test`
	pm := upnp.PortMapping{ExternalPort: 40000, Protocol: "TCP", InternalPort: 8080, InternalClient: loopback4, Enabled: true, Description: desc, LeaseDuration: time.Hour}
	if err := wan.AddPortMapping(ctx, pm); err != nil {
		t.Fatal(err)
	}
	got, err := wan.GetSpecificPortMappingEntry(ctx, pm.RemoteHost, 40000, "TCP")
	if err != nil || got.Description != desc || got.InternalPort != 8080 || got.LeaseDuration != time.Hour {
		t.Fatalf("GetSpecificPortMappingEntry = %+v, %v", got, err)
	}
	list, err := wan.GetListOfPortMappings(ctx, 1, 65535, "TCP", true, 0)
	if err != nil || len(list) != 1 || list[0].Description != desc || list[0].ExternalPort != 40000 {
		t.Fatalf("GetListOfPortMappings = %+v, %v", list, err)
	}
	// The request went out escaped and arrived as sent.
	r := gw.RequestsFor("AddPortMapping")[0]
	if v, _ := r.Get("NewPortMappingDescription"); v != desc {
		t.Errorf("captured description %q", v)
	}
	m := gw.Mappings()
	if len(m) != 1 || m[0].Protocol != UPnP || m[0].Description != desc {
		t.Fatalf("table %+v", m)
	}
	// Same client, same port: overwritten.
	pm.InternalPort = 9090
	if err := wan.AddPortMapping(ctx, pm); err != nil {
		t.Fatal(err)
	}
	if m := gw.Mappings(); len(m) != 1 || m[0].InternalPort != 9090 {
		t.Fatalf("after overwrite %+v", m)
	}
	if err := wan.DeletePortMapping(ctx, pm.RemoteHost, 40000, "TCP"); err != nil {
		t.Fatal(err)
	}
	if err := wan.DeletePortMapping(ctx, pm.RemoteHost, 40000, "TCP"); !errors.Is(err, upnp.ErrNoSuchEntryInArray) {
		t.Fatalf("second delete: %v, want 714", err)
	}
	if m := gw.Mappings(); len(m) != 0 {
		t.Fatalf("after delete %+v", m)
	}
}

func TestUPnPConflictAndAddAny(t *testing.T) {
	gw := NewGateway(t)
	ctx := testCtx(t)
	if err := gw.AddMapping(Mapping{Transport: "tcp", ExternalPort: 40100, InternalAddr: otherHost, InternalPort: 22}); err != nil {
		t.Fatal(err)
	}
	wan := discover(t, gw).WAN
	pm := upnp.PortMapping{ExternalPort: 40100, Protocol: "TCP", InternalPort: 8080, InternalClient: loopback4, Enabled: true, LeaseDuration: time.Hour}
	err := wan.AddPortMapping(ctx, pm)
	if !errors.Is(err, upnp.ErrConflictInMappingEntry) {
		t.Fatalf("AddPortMapping on another host's port: %v, want 718", err)
	}
	port, err := wan.AddAnyPortMapping(ctx, pm)
	if err != nil || port != 40101 {
		t.Fatalf("AddAnyPortMapping = %d, %v; want 40101 (nearest free)", port, err)
	}
	res, err := wan.AddPortMappingWithFallbacks(ctx, pm, upnp.AddOptions{AnyPortOnConflict: true})
	if err != nil || !res.UsedAddAny {
		t.Fatalf("fallbacks = %+v, %v", res, err)
	}
}

func TestUPnPFailures(t *testing.T) {
	for _, code := range []int{718, 725, 402, 606, 501} {
		t.Run(upnp.ErrorCode(code).String(), func(t *testing.T) {
			gw := NewGateway(t)
			wan := discover(t, gw).WAN
			gw.FailNext("AddPortMapping", code)
			pm := upnp.PortMapping{ExternalPort: 40200, Protocol: "UDP", InternalPort: 53, InternalClient: loopback4, Enabled: true, LeaseDuration: time.Hour}
			err := wan.AddPortMapping(testCtx(t), pm)
			var se *upnp.SOAPError
			if !errors.As(err, &se) || se.Code != code {
				t.Fatalf("got %v, want SOAP error %d", err, code)
			}
			if err := wan.AddPortMapping(testCtx(t), pm); err != nil {
				t.Fatalf("second call: %v", err)
			}
			reqs := gw.RequestsFor("AddPortMapping")
			if len(reqs) != 2 || reqs[0].Code != code || !reqs[0].Injected || reqs[1].Code != 0 {
				t.Fatalf("captured %+v", reqs)
			}
		})
	}
}

func TestUPnPPermanentLeasesOnly(t *testing.T) {
	gw := NewGateway(t, WithIGDv1(), WithPermanentLeasesOnly())
	wan := discover(t, gw).WAN
	pm := upnp.PortMapping{ExternalPort: 40300, Protocol: "TCP", InternalPort: 80, InternalClient: loopback4, Enabled: true, LeaseDuration: time.Hour}
	if err := wan.AddPortMapping(testCtx(t), pm); !errors.Is(err, upnp.ErrOnlyPermanentLeasesSupported) {
		t.Fatalf("got %v, want 725", err)
	}
	res, err := wan.AddPortMappingWithFallbacks(testCtx(t), pm, upnp.AddOptions{})
	if err != nil || !res.Permanent {
		t.Fatalf("fallbacks = %+v, %v", res, err)
	}
	if m := gw.Mappings(); len(m) != 1 || m[0].Lifetime != 0 || !m[0].Expires.IsZero() {
		t.Fatalf("table %+v", m)
	}
}

func TestUPnPIGDv1RefusesV2Actions(t *testing.T) {
	gw := NewGateway(t, WithIGDv1())
	igd := discover(t, gw)
	// Bypass the client's own version check by calling on a v2 service
	// description of the same control URL.
	svc := igd.WAN.Service
	svc.Type = strings.Replace(svc.Type, ":1", ":2", 1)
	wan := upnp.NewWANConnection(svc, nil)
	_, err := wan.GetListOfPortMappings(testCtx(t), 1, 65535, "TCP", false, 0)
	if !errors.Is(err, upnp.ErrInvalidAction) {
		t.Fatalf("got %v, want 401", err)
	}
}

func TestUPnPRebootNewHTTPPort(t *testing.T) {
	gw := NewGateway(t)
	igd := discover(t, gw)
	old := gw.HTTPAddr()
	if err := gw.RebootNewHTTPPort(); err != nil {
		t.Fatal(err)
	}
	if gw.HTTPAddr() == old || gw.BootID() != 2 {
		t.Fatalf("HTTP %v (was %v), BootID %d", gw.HTTPAddr(), old, gw.BootID())
	}
	ctx := testCtx(t)
	if _, err := igd.WAN.GetStatusInfo(ctx); err == nil {
		t.Fatal("old control URL still answers")
	}
	igd2 := discover(t, gw)
	if igd2.BootID != 2 || igd2.Location.String() != gw.Location() {
		t.Fatalf("rediscovered %v boot %d", igd2.Location, igd2.BootID)
	}
	if st, err := igd2.WAN.GetStatusInfo(ctx); err != nil || !st.Connected() || st.Uptime > time.Minute {
		t.Fatalf("GetStatusInfo = %+v, %v", st, err)
	}
}
