package upnp

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"slices"
	"testing"
	"time"
)

func TestFirewallControlFixtures(t *testing.T) {
	f, svc := fixtureDevice(t, urnFW1, map[string]string{
		"GetFirewallStatus":         "miniupnpd-soap-2.3.1-GetFirewallStatus.xml",
		"AddPinhole":                "miniupnpd-soap-2.3.1-AddPinhole.xml",
		"UpdatePinhole":             "miniupnpd-soap-2.3.1-UpdatePinhole.xml",
		"GetPinholePackets":         "miniupnpd-soap-2.3.1-GetPinholePackets.xml",
		"CheckPinholeWorking":       "miniupnpd-soap-2.3.1-CheckPinholeWorking-709.xml",
		"DeletePinhole":             "miniupnpd-soap-2.3.1-DeletePinhole.xml",
		"GetOutboundPinholeTimeout": "miniupnpd-soap-2.3.1-GetOutboundPinholeTimeout-501.xml",
	})
	fw := NewFirewallControl(svc, nil)
	ctx := context.Background()
	st, err := fw.GetFirewallStatus(ctx)
	if err != nil || !st.FirewallEnabled || !st.InboundPinholeAllowed {
		t.Errorf("status %+v %v", st, err)
	}
	p := Pinhole{InternalClient: mustAddr("fd77::2"), InternalPort: 40100, Protocol: "tcp", LeaseTime: time.Hour}
	id, err := fw.AddPinhole(ctx, p)
	if err != nil || id != 2 {
		t.Fatalf("add %d %v", id, err)
	}
	if err := fw.UpdatePinhole(ctx, id, 2*time.Hour); err != nil {
		t.Error(err)
	}
	if n, err := fw.GetPinholePackets(ctx, id); err != nil || n != 0 {
		t.Errorf("packets %d %v", n, err)
	}
	if _, err := fw.CheckPinholeWorking(ctx, id); !errors.Is(err, ErrNoPacketSent) {
		t.Errorf("check: %v", err)
	}
	if _, err := fw.GetOutboundPinholeTimeout(ctx, p); !errors.Is(err, ErrActionFailed) {
		t.Errorf("outbound timeout: %v", err)
	}
	if err := fw.DeletePinhole(ctx, id); err != nil {
		t.Error(err)
	}
	reqs := f.requests()
	add := reqs[1]
	if !slices.Equal(add.argNames(), []string{"RemoteHost", "RemotePort", "InternalClient", "InternalPort", "Protocol", "LeaseTime"}) {
		t.Errorf("AddPinhole args %v", add.argNames())
	}
	want := map[string]string{"RemoteHost": "", "RemotePort": "0", "InternalClient": "fd77::2", "InternalPort": "40100", "Protocol": "6", "LeaseTime": "3600"}
	for k, v := range want {
		if add.arg(k) != v {
			t.Errorf("AddPinhole %s = %q, want %q", k, add.arg(k), v)
		}
	}
	upd := reqs[2]
	if !slices.Equal(upd.argNames(), []string{"UniqueID", "NewLeaseTime"}) || upd.arg("UniqueID") != "2" || upd.arg("NewLeaseTime") != "7200" {
		t.Errorf("UpdatePinhole %v", upd.Args)
	}
	out := reqs[5]
	if !slices.Equal(out.argNames(), []string{"RemoteHost", "RemotePort", "InternalClient", "InternalPort", "Protocol"}) {
		t.Errorf("GetOutboundPinholeTimeout args %v", out.argNames())
	}
}

func TestFirewallControlValues(t *testing.T) {
	f := newFakeDevice(t, func(r fakeRequest) fakeReply {
		switch r.Action {
		case "CheckPinholeWorking":
			return okReply(r.Action, r.ServiceNS, "IsWorking", "1")
		case "GetOutboundPinholeTimeout":
			return okReply(r.Action, r.ServiceNS, "OutboundPinholeTimeout", "120")
		case "AddPinhole":
			return fakeReply{Body: fixture(t, "miniupnpd-soap-2.3.1-AddPinhole-606.xml")}
		}
		return faultReply(401, "Invalid Action")
	})
	fw := NewFirewallControl(f.service(urnFW1), nil)
	ctx := context.Background()
	if ok, err := fw.CheckPinholeWorking(ctx, 7); err != nil || !ok {
		t.Errorf("check %v %v", ok, err)
	}
	if d, err := fw.GetOutboundPinholeTimeout(ctx, Pinhole{Protocol: "UDP", InternalClient: mustAddr("fd77::2")}); err != nil || d != 2*time.Minute {
		t.Errorf("timeout %v %v", d, err)
	}
	_, err := fw.AddPinhole(ctx, Pinhole{InternalClient: mustAddr("fd77::2"), InternalPort: 1, Protocol: "UDP", LeaseTime: time.Minute})
	if !errors.Is(err, ErrActionNotAuthorized) {
		t.Errorf("606: %v", err)
	}
	if got := f.requests()[1].arg("Protocol"); got != "17" {
		t.Errorf("UDP sent as %q", got)
	}
}

func TestPinholeValidation(t *testing.T) {
	f := newFakeDevice(t, func(r fakeRequest) fakeReply { return faultReply(501, "x") })
	fw := NewFirewallControl(f.service(urnFW1), nil)
	ctx := context.Background()
	good := Pinhole{InternalClient: mustAddr("fd77::2"), InternalPort: 1, Protocol: "TCP", LeaseTime: time.Hour}
	bad := []Pinhole{
		{InternalClient: good.InternalClient, Protocol: "TCP", LeaseTime: 0},
		{InternalClient: good.InternalClient, Protocol: "TCP", LeaseTime: MaxPinholeLease + time.Second},
		{InternalClient: good.InternalClient, Protocol: "bogus", LeaseTime: time.Hour},
		{Protocol: "TCP", LeaseTime: time.Hour},
	}
	for _, p := range bad {
		if _, err := fw.AddPinhole(ctx, p); err == nil || errors.Is(err, ErrActionFailed) {
			t.Errorf("%+v: err %v", p, err)
		}
	}
	if err := fw.UpdatePinhole(ctx, 1, 0); !errors.Is(err, ErrInvalidLease) {
		t.Errorf("update lease 0: %v", err)
	}
	if len(f.requests()) != 0 {
		t.Error("invalid requests were sent")
	}
	for in, want := range map[string]string{"": "65535", "tcp": "6", "UDP": "17", "udplite": "136", "58": "58"} {
		if got, err := pinholeProtocol(in); err != nil || got != want {
			t.Errorf("pinholeProtocol(%q) = %q %v", in, got, err)
		}
	}
	if pinholeHost(netip.Addr{}) != "" || pinholeHost(mustAddr("2001:db8::1")) != "2001:db8::1" {
		t.Error("pinholeHost")
	}
}

func TestNewFirewallControlIPv6(t *testing.T) {
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	var from string
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		from = r.RemoteAddr
		io.WriteString(w, fixture(t, "miniupnpd-soap-2.3.1-GetFirewallStatus.xml"))
	})}}
	srv.Start()
	defer srv.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	// The description advertised an IPv4 control URL.
	u, _ := url.Parse("http://127.0.0.1:" + port + "/ctl/IP6FCtl")
	fw, err := NewFirewallControlIPv6(Service{Type: urnFW1, ControlURL: u}, mustAddr("::1"), mustAddr("::1"))
	if err != nil {
		t.Fatal(err)
	}
	if fw.Service.ControlURL.String() != "http://[::1]:"+port+"/ctl/IP6FCtl" || u.Host != "127.0.0.1:"+port {
		t.Fatalf("control URL %v (original %v)", fw.Service.ControlURL, u)
	}
	if _, err := fw.GetFirewallStatus(context.Background()); err != nil {
		t.Fatal(err)
	}
	if ap, err := netip.ParseAddrPort(from); err != nil || ap.Addr() != mustAddr("::1") {
		t.Fatalf("request from %q", from)
	}
	if _, err := NewFirewallControlIPv6(Service{Type: urnFW1, ControlURL: u}, mustAddr("10.0.0.1"), mustAddr("::1")); err == nil {
		t.Error("IPv4 gateway accepted")
	}
	if _, err := NewFirewallControlIPv6(Service{Type: urnFW1}, mustAddr("::1"), mustAddr("::1")); err == nil {
		t.Error("nil control URL accepted")
	}
}
