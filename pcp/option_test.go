package pcp

import (
	"bytes"
	"errors"
	"net/netip"
	"reflect"
	"testing"
)

func TestOptionEncodingVectors(t *testing.T) {
	tests := []struct {
		name string
		o    Options
		want string
	}{
		{"THIRD_PARTY IPv4", Options{ThirdParty: netip.MustParseAddr("10.77.0.3")},
			"01000010" + "00000000000000000000ffff0a4d0003"},
		{"PREFER_FAILURE", Options{PreferFailure: true}, "02000000"},
		{"FILTER IPv4 /24 any port", Options{Filters: []Filter{{Remote: netip.MustParsePrefix("11.77.0.0/24")}}},
			"03000014" + "00780000" + "00000000000000000000ffff0b4d0000"},
		{"FILTER IPv6 /64 port 443", Options{Filters: []Filter{{Remote: netip.MustParsePrefix("2001:db8:1:2::/64"), RemotePort: 443}}},
			"03000014" + "004001bb" + "20010db8000100020000000000000000"},
		{"FILTER none (remove all)", Options{Filters: []Filter{{}}},
			"03000014" + "00000000" + "00000000000000000000000000000000"},
		{"unknown padded", Options{Unknown: []RawOption{{Code: 200, Data: []byte{0xde, 0xad, 0xbe}}}}, "c8000003deadbe00"},
		{"order", Options{Unknown: []RawOption{{Code: 128}}, PreferFailure: true, ThirdParty: netip.MustParseAddr("::1")},
			"01000010" + "00000000000000000000000000000001" + "02000000" + "80000000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := tt.o.append(nil)
			if err != nil {
				t.Fatal(err)
			}
			if want := unhex(t, tt.want); !bytes.Equal(b, want) {
				t.Errorf("got  %x\nwant %x", b, want)
			}
			if len(b) != tt.o.len() {
				t.Errorf("len() = %d, encoded %d", tt.o.len(), len(b))
			}
			back, err := parseOptions(b)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back, tt.o) && tt.name != "order" {
				t.Errorf("decoded %+v, want %+v", back, tt.o)
			}
		})
	}
}

func TestParseOptionsErrors(t *testing.T) {
	filter := func(plen byte, addr string) []byte {
		a := netip.MustParseAddr(addr).As16()
		return append([]byte{3, 0, 0, 20, 0, plen, 0, 0}, a[:]...)
	}
	third := append([]byte{1, 0, 0, 16}, make([]byte, 16)...)
	tests := []struct {
		name string
		b    []byte
	}{
		{"truncated header", []byte{1, 0}},
		{"length past end", []byte{200, 0, 0, 5, 0, 0, 0, 0}},
		{"padding past end", []byte{200, 0, 0, 1}},
		{"THIRD_PARTY length 12", append([]byte{1, 0, 0, 12}, make([]byte, 12)...)},
		{"THIRD_PARTY twice", append(bytes.Clone(third), third...)},
		{"PREFER_FAILURE length 4", []byte{2, 0, 0, 4, 0, 0, 0, 0}},
		{"PREFER_FAILURE twice", []byte{2, 0, 0, 0, 2, 0, 0, 0}},
		{"FILTER length 16", append([]byte{3, 0, 0, 16}, make([]byte, 16)...)},
		{"FILTER prefix 129", filter(129, "2001:db8::")},
		{"FILTER IPv4 prefix 95", filter(95, "::ffff:192.0.2.0")},
		{"FILTER IPv4 prefix 8", filter(8, "::ffff:192.0.2.0")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseOptions(tt.b)
			var de *DecodeError
			if !errors.As(err, &de) || de.Code != MalformedOption {
				t.Errorf("err = %v, want DecodeError MALFORMED_OPTION", err)
			}
		})
	}
}

func TestParseFilterPrefixes(t *testing.T) {
	tests := []struct {
		plen byte
		addr string
		want netip.Prefix
	}{
		{0, "::ffff:192.0.2.7", netip.Prefix{}},
		{0, "2001:db8::", netip.Prefix{}},
		{96, "::ffff:192.0.2.7", netip.MustParsePrefix("192.0.2.7/0")},
		{128, "::ffff:192.0.2.7", netip.MustParsePrefix("192.0.2.7/32")},
		{128, "2001:db8::7", netip.MustParsePrefix("2001:db8::7/128")},
		{1, "2001:db8::", netip.MustParsePrefix("2001:db8::/1")},
	}
	for _, tt := range tests {
		a := netip.MustParseAddr(tt.addr).As16()
		d := append([]byte{0, tt.plen, 0x1f, 0x90}, a[:]...)
		f, err := parseFilter(d)
		if err != nil || f.Remote != tt.want || f.RemotePort != 8080 {
			t.Errorf("plen %d %s: got %+v, %v; want %v port 8080", tt.plen, tt.addr, f, err, tt.want)
		}
	}
}

func TestOptionsCheck(t *testing.T) {
	tp := Options{ThirdParty: netip.MustParseAddr("10.0.0.9")}
	pf := Options{PreferFailure: true}
	fl := Options{Filters: []Filter{{}}}
	tests := []struct {
		o  Options
		op Opcode
		ok bool
	}{
		{tp, OpMap, true}, {tp, OpPeer, true}, {tp, OpAnnounce, false},
		{pf, OpMap, true}, {pf, OpPeer, false}, {pf, OpAnnounce, false},
		{fl, OpMap, true}, {fl, OpPeer, false}, {fl, OpAnnounce, false},
		{Options{}, OpAnnounce, true},
	}
	for _, tt := range tests {
		if err := tt.o.check(tt.op); (err == nil) != tt.ok {
			t.Errorf("%+v with %s: err = %v, want ok=%v", tt.o, tt.op, err, tt.ok)
		}
	}
}

func TestOptionCodeNames(t *testing.T) {
	for c, want := range map[OptionCode]string{1: "THIRD_PARTY", 2: "PREFER_FAILURE", 3: "FILTER", 200: "Option(200)"} {
		if c.String() != want {
			t.Errorf("%d: %q, want %q", c, c.String(), want)
		}
	}
	if !OptionCode(127).Mandatory() || OptionCode(128).Mandatory() {
		t.Error("Mandatory: codes 0-127 are mandatory, 128-255 optional")
	}
}
