package upnp

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"
)

// fixtureDevice replays captured replies: action -> fixture file name.
func fixtureDevice(t *testing.T, urn string, replies map[string]string) (*fakeDevice, Service) {
	t.Helper()
	f := newFakeDevice(t, func(r fakeRequest) fakeReply {
		name, ok := replies[r.Action]
		if !ok {
			return faultReply(401, "Invalid Action")
		}
		return fakeReply{Body: fixture(t, name)}
	})
	return f, f.service(urn)
}

func TestServiceVersion(t *testing.T) {
	tests := map[string]int{
		urnIP1: 1, urnIP2: 2, urnPPP1: 1, urnDSLIP: 1, "": 1, "garbage": 1, "urn:x:service:Y:x": 1,
		"urn:schemas-upnp-org:service:WANIPConnection:3": 3,
	}
	for urn, want := range tests {
		if got := NewWANConnection(Service{Type: urn}, nil).Version; got != want {
			t.Errorf("%q: version %d, want %d", urn, got, want)
		}
	}
	if !NewWANConnection(Service{Type: urnPPP1}, nil).IsPPP() || NewWANConnection(Service{Type: urnIP2}, nil).IsPPP() {
		t.Error("IsPPP wrong")
	}
}

func TestWANConnectionMiniupnpdFixtures(t *testing.T) {
	_, svc := fixtureDevice(t, urnIP2, map[string]string{
		"GetStatusInfo":         "miniupnpd-soap-2.3.1-GetStatusInfo.xml",
		"GetExternalIPAddress":  "miniupnpd-soap-2.3.1-GetExternalIPAddress.xml",
		"GetConnectionTypeInfo": "miniupnpd-soap-2.3.1-GetConnectionTypeInfo.xml",
	})
	c := NewWANConnection(svc, nil)
	ctx := context.Background()
	st, err := c.GetStatusInfo(ctx)
	if err != nil || !st.Connected() || st.LastConnectionError != "ERROR_NONE" || st.Uptime != 284*time.Second {
		t.Errorf("status %+v %v", st, err)
	}
	ip, err := c.GetExternalIPAddress(ctx)
	if err != nil || ip != mustAddr("11.77.0.1") {
		t.Errorf("ip %v %v", ip, err)
	}
	ct, err := c.GetConnectionTypeInfo(ctx)
	if err != nil || ct.ConnectionType != "IP_Routed" || ct.PossibleConnectionTypes != "IP_Routed" {
		t.Errorf("type %+v %v", ct, err)
	}
}

func TestGetExternalIPAddressValues(t *testing.T) {
	tests := []struct {
		value string
		want  netip.Addr
		err   error
	}{
		{"203.0.113.9", mustAddr("203.0.113.9"), nil},
		{" 192.168.1.20 ", mustAddr("192.168.1.20"), nil}, // double NAT: returned, caller checks IsPrivate
		{"::ffff:203.0.113.9", mustAddr("203.0.113.9"), nil},
		{"", netip.Addr{}, ErrNoExternalAddress},
		{"0.0.0.0", netip.Addr{}, ErrNoExternalAddress}, // disconnected routers
		{"(null)", netip.Addr{}, ErrNoExternalAddress},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			f := newFakeDevice(t, func(r fakeRequest) fakeReply {
				return okReply(r.Action, r.ServiceNS, "NewExternalIPAddress", tt.value)
			})
			got, err := NewWANConnection(f.service(urnPPP1), nil).GetExternalIPAddress(context.Background())
			if !errors.Is(err, tt.err) || got != tt.want {
				t.Fatalf("got %v, %v; want %v, %v", got, err, tt.want, tt.err)
			}
		})
	}
}

func TestGetStatusInfoTolerant(t *testing.T) {
	f := newFakeDevice(t, func(r fakeRequest) fakeReply {
		return okReply(r.Action, r.ServiceNS, "NewConnectionStatus", "Disconnected", "NewUptime", "")
	})
	st, err := NewWANConnection(f.service(urnIP1), nil).GetStatusInfo(context.Background())
	if err != nil || st.Connected() || st.ConnectionStatus != "Disconnected" || st.Uptime != 0 {
		t.Fatalf("%+v %v", st, err)
	}
}

func TestWANPPPConnectionActions(t *testing.T) {
	for _, urn := range []string{urnPPP1, "urn:dslforum-org:service:WANPPPConnection:1"} {
		t.Run(urn, func(t *testing.T) {
			f := newFakeDevice(t, func(r fakeRequest) fakeReply { return okReply(r.Action, r.ServiceNS) })
			c := NewWANConnection(f.service(urn), nil)
			if !c.IsPPP() || c.Version != 1 {
				t.Fatalf("IsPPP %v version %d", c.IsPPP(), c.Version)
			}
			pm := PortMapping{ExternalPort: 1, Protocol: "udp", InternalPort: 1, InternalClient: mustAddr("192.168.1.2"), LeaseDuration: time.Minute}
			if err := c.AddPortMapping(context.Background(), pm); err != nil {
				t.Fatal(err)
			}
			r := f.requests()[0]
			if r.ServiceNS != urn || r.SOAPAction != `"`+urn+`#AddPortMapping"` || r.arg("NewProtocol") != "UDP" || r.arg("NewEnabled") != "0" {
				t.Fatalf("request %+v", r)
			}
		})
	}
}
