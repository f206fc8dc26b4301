package pcp

import (
	"bytes"
	"net/netip"
	"testing"
)

func TestAddrEncoding(t *testing.T) {
	tests := []struct {
		in   netip.Addr
		wire string
		out  netip.Addr
	}{
		{netip.MustParseAddr("10.77.0.2"), "00000000000000000000ffff0a4d0002", netip.MustParseAddr("10.77.0.2")},
		{netip.IPv4Unspecified(), "00000000000000000000ffff00000000", netip.IPv4Unspecified()},
		{netip.MustParseAddr("::ffff:10.77.0.2"), "00000000000000000000ffff0a4d0002", netip.MustParseAddr("10.77.0.2")},
		{netip.MustParseAddr("fd77::2"), "fd770000000000000000000000000002", netip.MustParseAddr("fd77::2")},
		{netip.MustParseAddr("fe80::1%eth0"), "fe800000000000000000000000000001", netip.MustParseAddr("fe80::1")},
		{netip.IPv6Unspecified(), "00000000000000000000000000000000", netip.IPv6Unspecified()},
		{netip.Addr{}, "00000000000000000000000000000000", netip.IPv6Unspecified()},
	}
	for _, tt := range tests {
		b := make([]byte, 16)
		putAddr(b, tt.in)
		if want := unhex(t, tt.wire); !bytes.Equal(b, want) {
			t.Errorf("putAddr(%v) = %x, want %x", tt.in, b, want)
		}
		if got := getAddr(b); got != tt.out {
			t.Errorf("getAddr(%x) = %v, want %v", b, got, tt.out)
		}
	}
}

func TestUnspecifiedLike(t *testing.T) {
	for in, want := range map[string]netip.Addr{
		"10.0.0.1":        netip.IPv4Unspecified(),
		"::ffff:10.0.0.1": netip.IPv4Unspecified(),
		"2001:db8::1":     netip.IPv6Unspecified(),
	} {
		if got := unspecifiedLike(netip.MustParseAddr(in)); got != want {
			t.Errorf("unspecifiedLike(%s) = %v, want %v", in, got, want)
		}
	}
}
