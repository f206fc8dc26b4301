package portmap

import (
	"net/netip"
	"testing"
)

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

func TestClassifyAddress(t *testing.T) {
	tests := []struct {
		addr string
		want AddressKind
	}{
		{"11.77.0.1", AddressPublic},
		{"8.8.8.8", AddressPublic},
		{"2001:4860::1", AddressPublic},
		{"0.0.0.0", AddressNone},
		{"", AddressNone},
		{"192.168.1.1", AddressPrivate},
		{"10.0.0.1", AddressPrivate},
		{"172.16.5.4", AddressPrivate},
		{"169.254.1.1", AddressPrivate},
		{"fd00::1", AddressPrivate},
		{"100.64.0.1", AddressShared},
		{"100.127.255.254", AddressShared},
		{"100.128.0.1", AddressPublic},
		{"::ffff:100.64.1.1", AddressShared},
	}
	for _, tt := range tests {
		var a netip.Addr
		if tt.addr != "" {
			a = mustAddr(tt.addr)
		}
		if got := ClassifyAddress(a); got != tt.want {
			t.Errorf("ClassifyAddress(%q) = %v, want %v", tt.addr, got, tt.want)
		}
		if (ClassifyAddress(a).Warning() == "") != (tt.want == AddressPublic) {
			t.Errorf("%q: warning %q", tt.addr, ClassifyAddress(a).Warning())
		}
	}
}
