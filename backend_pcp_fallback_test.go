package portmap

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/portmap-dev/portmap/portmaptest"
)

// pcpRequests counts the PCP requests the gateway received.
func pcpRequests(gw *portmaptest.Gateway) int {
	n := 0
	for _, r := range gw.Requests() {
		if r.Protocol == portmaptest.PCP {
			n++
		}
	}
	return n
}

// TestPCPSwitchesToNATPMP: a Client using PCP whose gateway starts to
// answer UNSUPP_VERSION with version 0 (PCP turned off, NAT-PMP still on)
// switches to NAT-PMP at once: the call that got the error succeeds over
// NAT-PMP, later calls go straight to NAT-PMP, and mappings made with PCP
// are renewed and deleted with NAT-PMP. A new discovery tries PCP first
// again.
func TestPCPSwitchesToNATPMP(t *testing.T) {
	gw, o := fakeGateway(t)
	c := discover(t, o)
	if c.Protocol() != PCP {
		t.Fatalf("discovered %s, want pcp", c.Protocol())
	}
	ctx := testContext(t)
	old, err := c.Add(ctx, Request{InternalPort: 7001, ExternalPort: 17001, Lifetime: time.Hour})
	if err != nil || old.Protocol != PCP {
		t.Fatalf("Add over PCP: %+v, %v", old, err)
	}

	gw.RefusePCP(true)
	before := pcpRequests(gw)
	m, err := c.Add(ctx, Request{InternalPort: 7002, ExternalPort: 17002, Lifetime: time.Hour})
	if err != nil {
		t.Fatalf("Add after PCP was turned off: %v", err)
	}
	if m.Protocol != NATPMP || m.External != netip.AddrPortFrom(portmaptest.DefaultExternalIP, 17002) {
		t.Errorf("mapping %+v, want NAT-PMP to %v:17002", m, portmaptest.DefaultExternalIP)
	}
	if c.Protocol() != NATPMP {
		t.Errorf("Protocol() = %s after the switch, want natpmp", c.Protocol())
	}
	if n := pcpRequests(gw) - before; n != 1 {
		t.Errorf("%d PCP requests for the call that switched, want 1 (no retransmission)", n)
	}
	if rs := gw.RequestsFor("natpmp:map"); len(rs) != 1 || rs[0].Code != 0 {
		t.Errorf("NAT-PMP map requests %+v, want one that succeeded", rs)
	}

	// Later calls, whatever the mapping's origin, go straight to NAT-PMP.
	// A mapping made with PCP is renewed as a NAT-PMP one; the gateway
	// (like miniupnpd, whose NAT-PMP code touches only NAT-PMP entries)
	// keeps the PCP entry apart until it expires, so the port may differ.
	before = pcpRequests(gw)
	r, err := c.Refresh(ctx, old, 0)
	if err != nil || r.Protocol != NATPMP || r.Internal != old.Internal {
		t.Errorf("Refresh of the PCP mapping: %+v, %v; want it renewed with NAT-PMP", r, err)
	}
	if ip, err := c.ExternalIP(ctx); err != nil || ip != portmaptest.DefaultExternalIP {
		t.Errorf("ExternalIP = %v, %v", ip, err)
	}
	for _, mm := range []Mapping{r, m} {
		if err := c.Delete(ctx, mm); err != nil {
			t.Errorf("Delete %v: %v", mm.External, err)
		}
	}
	if n := pcpRequests(gw) - before; n != 0 {
		t.Errorf("%d PCP requests after the switch, want none", n)
	}
	if tab := gw.Mappings(); len(tab) != 1 || tab[0].Protocol != portmaptest.PCP {
		t.Errorf("mappings left: %+v, want only the PCP one (NAT-PMP cannot delete it)", tab)
	}

	// Nothing is remembered beyond the Client: a new discovery probes PCP
	// (and, with PCP back, uses it).
	before = pcpRequests(gw)
	c2 := discover(t, o)
	if c2.Protocol() != NATPMP || pcpRequests(gw) == before {
		t.Errorf("rediscovery with PCP off: %s after %d PCP requests, want natpmp after a PCP probe", c2.Protocol(), pcpRequests(gw)-before)
	}
	gw.RefusePCP(false)
	if c3 := discover(t, o); c3.Protocol() != PCP {
		t.Errorf("rediscovery with PCP back: %s, want pcp", c3.Protocol())
	}
}

// TestPCPSwitchWatch: a keeper's watch on a PCP backend follows the switch
// to NAT-PMP, so gateway reboots are still reported.
func TestPCPSwitchWatch(t *testing.T) {
	gw, o := fakeGateway(t)
	c := discover(t, o)
	b, ok := c.b.(*pcpBackend)
	if !ok {
		t.Fatalf("backend %T, want PCP", c.b)
	}
	ctx, cancel := context.WithCancel(testContext(t))
	signals := make(chan gatewaySignal, 10)
	done := make(chan struct{})
	go func() {
		defer close(done)
		b.watch(ctx, func(s gatewaySignal) { signals <- s })
	}()
	defer func() { cancel(); <-done }()

	gw.RefusePCP(true)
	if _, err := b.ping(testContext(t)); err != nil { // switches
		t.Fatal(err)
	}
	if c.Protocol() != NATPMP {
		t.Fatalf("no switch: %s", c.Protocol())
	}
	gw.Reboot()
	if _, err := b.ping(testContext(t)); err != nil { // NAT-PMP sees the epoch go back
		t.Fatal(err)
	}
	deadline := time.After(5 * time.Second)
	for {
		select {
		case s := <-signals:
			if s.reboot {
				return
			}
		case <-deadline:
			t.Fatal("no reboot signal after the switch")
		}
	}
}

// TestPCPSwitchPinholes: once a Client has switched to NAT-PMP, it refuses
// new pinholes with a NotSupportedError naming NAT-PMP (no PCP request
// sent), and a pinhole it made with PCP before can still be deleted with
// its nonce.
func TestPCPSwitchPinholes(t *testing.T) {
	gw, c := fakeGateway6(t, PCP)
	ctx := testContext(t)
	ph, err := c.AddPinhole(ctx, PinholeRequest{InternalPort: 8080})
	if err != nil {
		t.Fatal(err)
	}
	gw.RefusePCP(true)
	if _, err := c.Add(ctx, Request{InternalPort: 7002, ExternalPort: 17002, Lifetime: time.Hour}); err != nil {
		t.Fatalf("Add after PCP was turned off: %v", err)
	}
	if c.Protocol() != NATPMP {
		t.Fatalf("Protocol() = %s, want natpmp after the switch", c.Protocol())
	}
	before := pcpRequests(gw)
	_, err = c.AddPinhole(ctx, PinholeRequest{InternalPort: 8081})
	var ns *NotSupportedError
	if !errors.As(err, &ns) || ns.Protocol != NATPMP {
		t.Errorf("AddPinhole after the switch: %v; want a NotSupportedError for natpmp", err)
	}
	if n := pcpRequests(gw) - before; n != 0 {
		t.Errorf("%d PCP requests for a pinhole NAT-PMP cannot open, want none", n)
	}
	gw.RefusePCP(false) // PCP back on: the old pinhole is deleted with its nonce
	if err := c.DeletePinhole(ctx, ph); err != nil {
		t.Errorf("DeletePinhole of the PCP pinhole after the switch: %v", err)
	}
	if ps := gw.Pinholes(); len(ps) != 0 {
		t.Errorf("pinholes left: %+v", ps)
	}
}
