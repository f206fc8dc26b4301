package portmaptest

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/portmap-dev/portmap/natpmp"
	"github.com/portmap-dev/portmap/upnp"
)

func TestNearestFree(t *testing.T) {
	tb := newTable(100, 110, 100)
	take := func(p uint16) {
		if err := tb.put(&entry{Mapping: Mapping{Transport: "TCP", ExternalPort: p}}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		want, got uint16
		take      []uint16
	}{
		{105, 105, nil},
		{105, 106, []uint16{105}},
		{105, 104, []uint16{106}},
		{105, 107, []uint16{104}},
		{50, 100, nil},  // below the range: its low end
		{200, 110, nil}, // above: its high end
	} {
		for _, p := range tc.take {
			take(p)
		}
		if got, ok := tb.nearestFree("TCP", tc.want); !ok || got != tc.got {
			t.Errorf("nearestFree(%d) = %d, %v; want %d", tc.want, got, ok, tc.got)
		}
	}
	if p, ok := tb.nearestFree("UDP", 105); !ok || p != 105 {
		t.Errorf("UDP is another space: %d %v", p, ok)
	}
	for p := uint16(100); p <= 110; p++ {
		if tb.free("TCP", p) {
			take(p)
		}
	}
	if _, ok := tb.nearestFree("TCP", 105); ok {
		t.Error("found a port in a full range")
	}
}

func TestExpiryWithManualClock(t *testing.T) {
	clock := NewManualClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	gw := NewGateway(t, WithClock(clock))
	wan := discover(t, gw).WAN
	ctx := testCtx(t)
	pm := upnp.PortMapping{ExternalPort: 40400, Protocol: "TCP", InternalPort: 80, InternalClient: loopback4, Enabled: true, LeaseDuration: time.Hour}
	if err := wan.AddPortMapping(ctx, pm); err != nil {
		t.Fatal(err)
	}
	clock.Advance(20 * time.Minute)
	got, err := wan.GetSpecificPortMappingEntry(ctx, netip.Addr{}, 40400, "TCP")
	if err != nil || got.LeaseDuration != 40*time.Minute {
		t.Fatalf("after 20 min: %+v, %v; want 40 min left", got, err)
	}
	if e := gw.Epoch(); e != uint32((DefaultUptime+20*time.Minute)/time.Second) {
		t.Errorf("epoch %d", e)
	}
	clock.Advance(40 * time.Minute)
	if _, err := wan.GetSpecificPortMappingEntry(ctx, netip.Addr{}, 40400, "TCP"); !errors.Is(err, upnp.ErrNoSuchEntryInArray) {
		t.Fatalf("expired mapping: %v, want 714", err)
	}
	if m := gw.Mappings(); len(m) != 0 {
		t.Fatalf("table %+v", m)
	}
}

func TestPortRange(t *testing.T) {
	gw := NewGateway(t, WithPortRange(2000, 2001))
	wan := discover(t, gw).WAN
	pm := upnp.PortMapping{ExternalPort: 80, Protocol: "TCP", InternalPort: 80, InternalClient: loopback4, Enabled: true}
	if err := wan.AddPortMapping(testCtx(t), pm); !errors.Is(err, upnp.ErrActionNotAuthorized) {
		t.Fatalf("port outside the range: %v, want 606", err)
	}
	c := natpmpClient(t, gw)
	for i, want := range []uint16{2000, 2001} {
		m, err := c.Map(testCtx(t), natpmp.TCP, 80+uint16(i), 0, time.Hour)
		if err != nil || m.ExternalPort != want {
			t.Fatalf("Map = %+v, %v; want %d", m, err, want)
		}
	}
	if _, err := c.Map(testCtx(t), natpmp.TCP, 99, 0, time.Hour); !errors.Is(err, &natpmp.ResultError{Code: natpmp.ResultOutOfResources}) {
		t.Fatalf("range full: %v, want OutOfResources", err)
	}
}

func TestMaxMappings(t *testing.T) {
	gw := NewGateway(t, WithConfig(Config{MaxMappings: 1}))
	mustAdd(t, gw, Mapping{Transport: "TCP", ExternalPort: 1, InternalAddr: otherHost, InternalPort: 1})
	if err := gw.AddMapping(Mapping{Transport: "TCP", ExternalPort: 2, InternalAddr: otherHost, InternalPort: 1}); !errors.Is(err, errTableFull) {
		t.Fatalf("got %v, want table full", err)
	}
	wan := discover(t, gw).WAN
	pm := upnp.PortMapping{ExternalPort: 3, Protocol: "TCP", InternalPort: 80, InternalClient: loopback4, Enabled: true}
	if err := wan.AddPortMapping(testCtx(t), pm); !errors.Is(err, upnp.ErrNoPortMapsAvailable) {
		t.Fatalf("got %v, want 728", err)
	}
}

func TestAddMappingValidation(t *testing.T) {
	gw := NewGateway(t)
	for _, m := range []Mapping{
		{Transport: "SCTP", ExternalPort: 1, InternalAddr: otherHost},
		{Transport: "TCP", ExternalPort: 0, InternalAddr: otherHost},
		{Transport: "TCP", ExternalPort: 1},
	} {
		if err := gw.AddMapping(m); err == nil {
			t.Errorf("AddMapping(%+v) accepted", m)
		}
	}
	mustAdd(t, gw, Mapping{Transport: "udp", ExternalPort: 1, InternalAddr: otherHost, InternalPort: 1})
	if err := gw.AddMapping(Mapping{Transport: "UDP", ExternalPort: 1, InternalAddr: otherHost, InternalPort: 1}); err == nil {
		t.Error("duplicate accepted")
	}
}
