package portmaptest

import (
	"errors"
	"testing"
	"time"

	"github.com/portmap-dev/portmap/natpmp"
	"github.com/portmap-dev/portmap/upnp"
)

func TestArgumentOrder(t *testing.T) {
	gw := NewGateway(t, WithConfig(Config{ArgumentOrder: true}))
	args := mapArgs("40000", "80", "", "d", "0")
	if status, body := soapPost(t, gw, "IPConn", ipConn2, "AddPortMapping", args...); status != 200 {
		t.Fatalf("in order: %d %s", status, body)
	}
	args[0], args[1] = args[1], args[0]
	if status, _ := soapPost(t, gw, "IPConn", ipConn2, "AddPortMapping", args...); status != 500 {
		t.Fatalf("out of order accepted: %d", status)
	}
	// The upnp package's client sends the specification's order.
	wan := discover(t, gw).WAN
	pm := upnp.PortMapping{ExternalPort: 40001, Protocol: "TCP", InternalPort: 80, InternalClient: loopback4, Enabled: true, LeaseDuration: time.Hour}
	if err := wan.AddPortMapping(testCtx(t), pm); err != nil {
		t.Fatalf("upnp client: %v", err)
	}
	// Missing arguments are refused even without the knob.
	gw2 := NewGateway(t)
	if status, _ := soapPost(t, gw2, "IPConn", ipConn2, "AddPortMapping", mapArgs("40000", "80", "", "d", "0")[1:]...); status != 500 {
		t.Fatalf("missing NewRemoteHost accepted: %d", status)
	}
}

func TestSSDPRootDeviceOnly(t *testing.T) {
	gw := NewGateway(t, WithConfig(Config{SSDPRootDeviceOnly: true}))
	if reply := rawExchange(t, gw, []byte(mSearchText(upnp.STIGDv2))); reply != nil {
		t.Fatalf("answered an IGD search: %q", reply)
	}
	if reply := rawExchange(t, gw, []byte(mSearchText("ssdp:all"))); reply == nil {
		t.Fatal("no answer to ssdp:all")
	}
	// Discover asks for upnp:rootdevice too.
	if igd := discover(t, gw); igd.WAN == nil {
		t.Fatal("no WAN service")
	}
}

func TestNATPMPTruncatedPorts(t *testing.T) {
	gw := NewGateway(t, WithConfig(Config{NATPMPTruncatedPorts: true}))
	c := natpmpClient(t, gw)
	// The bug report's example: 22002 -> 28174 answered as "242 -> 14".
	m, err := c.Map(testCtx(t), natpmp.TCP, 22002, 28174, time.Hour)
	if err != nil || m.ExternalPort != 28174 || m.InternalPort != 22002 {
		t.Fatalf("Map = %+v, %v", m, err)
	}
	if tab := gw.Mappings(); len(tab) != 1 || tab[0].ExternalPort != 28174 || tab[0].InternalPort != 22002 {
		t.Fatalf("table %+v", tab)
	}
	if _, err := c.Map(testCtx(t), natpmp.UDP, 22002, 0, time.Hour); !errors.Is(err, natpmp.ErrAmbiguousPort) {
		t.Fatalf("no suggestion: %v, want ErrAmbiguousPort", err)
	}
}
