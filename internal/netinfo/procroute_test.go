package netinfo

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
)

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseProcRoute(t *testing.T) {
	tests := []struct {
		fixture string
		want    []Gateway // default gateways, in order
		routes  int       // routes with a gateway
	}{
		// The LAN host of the test bed: default via 10.77.0.1.
		{"route-lan.txt", []Gateway{{netip.MustParseAddr("10.77.0.1"), "pmx-lg", 0}}, 1},
		// The gateway of the test bed: connected routes only.
		{"route-gw-nodefault.txt", nil, 0},
		// Two default routes by metric; down, gateway-less, reject,
		// non-contiguous mask and unparsable lines skipped.
		{"route-multi.txt", []Gateway{
			{netip.MustParseAddr("192.168.0.1"), "eth0", 100},
			{netip.MustParseAddr("192.168.1.1"), "wlan0", 600},
		}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			routes, err := parseProcRoute(bytes.NewReader(readFixture(t, tt.fixture)), binary.LittleEndian)
			if err != nil {
				t.Fatal(err)
			}
			if len(routes) != tt.routes {
				t.Fatalf("%d routes %+v, want %d", len(routes), routes, tt.routes)
			}
			if got := defaultGateways(routes); !slices.Equal(got, tt.want) {
				t.Fatalf("gateways %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseProcRouteBigEndian(t *testing.T) {
	// The same table printed by a big-endian kernel.
	in := "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\tMTU\tWindow\tIRTT\n" +
		"eth0\t00000000\t0A4D0001\t0003\t0\t0\t0\t00000000\t0\t0\t0\n" +
		"eth0\t0A4D0000\t0A4D0001\t0003\t0\t0\t0\tFFFFFF00\t0\t0\t0\n"
	routes, err := parseProcRoute(strings.NewReader(in), binary.BigEndian)
	if err != nil {
		t.Fatal(err)
	}
	if len(routes) != 2 || routes[1].dst != netip.MustParsePrefix("10.77.0.0/24") || routes[0].gw != netip.MustParseAddr("10.77.0.1") {
		t.Fatalf("routes %+v", routes)
	}
}

func TestParseIPv6Route(t *testing.T) {
	tests := []struct {
		fixture string
		want    []Gateway
	}{
		// Test bed LAN host: default via fd77::1; the "lo" reject route
		// (::/0, no next hop, flags 0x00200200) is not a gateway.
		{"ipv6_route-lan.txt", []Gateway{{netip.MustParseAddr("fd77::1"), "pmx-lg", 1024}}},
		// Router advertisement default via a link-local address (zone =
		// interface) with a higher metric than the static one.
		{"ipv6_route-linklocal.txt", []Gateway{
			{netip.MustParseAddr("2001:db8::1"), "eth0", 100},
			{netip.MustParseAddr("fe80::211:22ff:fe33:4455%wlan0"), "wlan0", 1024},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			routes, err := parseIPv6Route(bytes.NewReader(readFixture(t, tt.fixture)))
			if err != nil {
				t.Fatal(err)
			}
			if got := defaultGateways(routes); !slices.Equal(got, tt.want) {
				t.Fatalf("gateways %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestDefaultGatewaysOrder(t *testing.T) {
	routes := []rtEntry{
		{dst: netip.MustParsePrefix("::/0"), gw: netip.MustParseAddr("fd00::1"), iface: "eth0", metric: 1},
		{dst: netip.MustParsePrefix("0.0.0.0/0"), gw: netip.MustParseAddr("192.0.2.1"), iface: "eth1", metric: 20},
		{dst: netip.MustParsePrefix("0.0.0.0/0"), gw: netip.MustParseAddr("192.0.2.9"), iface: "eth2", metric: 20},
		{dst: netip.MustParsePrefix("0.0.0.0/0"), gw: netip.MustParseAddr("198.51.100.1"), iface: "eth0", metric: 10},
		{dst: netip.MustParsePrefix("10.0.0.0/8"), gw: netip.MustParseAddr("192.0.2.2"), iface: "eth1"},
		{dst: netip.MustParsePrefix("0.0.0.0/0"), gw: netip.IPv4Unspecified(), iface: "ppp0"},
		{dst: netip.MustParsePrefix("0.0.0.0/0"), iface: "ppp1"},
	}
	want := []string{"198.51.100.1", "192.0.2.1", "192.0.2.9", "fd00::1"}
	var got []string
	for _, g := range defaultGateways(routes) {
		got = append(got, g.Addr.String())
	}
	if !slices.Equal(got, want) {
		t.Fatalf("order %v, want %v", got, want)
	}
}

func FuzzParseProcRoute(f *testing.F) {
	for _, name := range []string{"route-lan.txt", "route-gw-nodefault.txt", "route-multi.txt"} {
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		routes, err := parseProcRoute(bytes.NewReader(b), binary.LittleEndian)
		if err != nil {
			return
		}
		for _, r := range routes {
			if !r.dst.IsValid() || !r.dst.Addr().Is4() || !r.gw.Is4() {
				t.Fatalf("invalid route %+v", r)
			}
		}
		defaultGateways(routes)
	})
}

func FuzzParseIPv6Route(f *testing.F) {
	for _, name := range []string{"ipv6_route-lan.txt", "ipv6_route-linklocal.txt"} {
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		routes, err := parseIPv6Route(bytes.NewReader(b))
		if err != nil {
			return
		}
		for _, r := range routes {
			if !r.dst.IsValid() || !r.gw.Is6() || r.iface == "" {
				t.Fatalf("invalid route %+v", r)
			}
		}
		defaultGateways(routes)
	})
}
