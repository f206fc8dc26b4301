package pcp

import (
	"bytes"
	"errors"
	"net/netip"
	"reflect"
	"testing"
)

// TestCapturesRequestRoundTrip decodes every captured request and encodes it
// back to the same bytes.
func TestCapturesRequestRoundTrip(t *testing.T) {
	for _, c := range captures {
		t.Run(c.name, func(t *testing.T) {
			raw := unhex(t, c.req)
			req, err := ParseRequest(raw)
			var de *DecodeError
			if errors.As(err, &de) && de.Code == UnsuppVersion {
				return // the version-3 probe: not re-encodable as version 2
			}
			if err != nil {
				t.Fatalf("ParseRequest: %v", err)
			}
			back, err := req.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(back, raw) {
				t.Errorf("re-encoded\n %x\nwant\n %x", back, raw)
			}
		})
	}
}

// TestRequestEncodingVector checks field placement against the capture
// made with miniupnpd (MAP UDP 30001, lifetime 60, from 10.77.0.2).
func TestRequestEncodingVector(t *testing.T) {
	req := &Request{
		Opcode:     OpMap,
		Lifetime:   60,
		ClientAddr: netip.MustParseAddr("10.77.0.2"),
		Data: MapData{
			Nonce:        Nonce(unhex(t, "0969c3d412e73d856f797218")),
			Protocol:     UDP,
			InternalPort: 30001,
			ExternalPort: 30001,
			ExternalAddr: netip.IPv4Unspecified(),
		},
	}
	got := mustMarshal(t, req)
	want := unhex(t, captures[2].req)
	if !bytes.Equal(got, want) {
		t.Fatalf("got  %x\nwant %x", got, want)
	}
}

func TestRequestRoundTrip(t *testing.T) {
	n := NewNonce()
	tests := []*Request{
		{Version: Version, Opcode: OpAnnounce, ClientAddr: netip.MustParseAddr("192.0.2.5")},
		{Version: Version, Opcode: OpMap, Lifetime: 7200, ClientAddr: netip.MustParseAddr("2001:db8::5"),
			Data: MapData{Nonce: n, Protocol: TCP, InternalPort: 443, ExternalPort: 8443, ExternalAddr: netip.IPv6Unspecified()},
			Options: Options{ThirdParty: netip.MustParseAddr("2001:db8::6"), PreferFailure: true,
				Filters: []Filter{
					{Remote: netip.MustParsePrefix("2001:db8:1::/48"), RemotePort: 0},
					{Remote: netip.MustParsePrefix("198.51.100.0/24"), RemotePort: 9},
				},
				Unknown: []RawOption{{Code: 200, Data: []byte{1, 2, 3}}, {Code: 201, Data: []byte{}}},
			}},
		{Version: Version, Opcode: OpPeer, Lifetime: 1, ClientAddr: netip.MustParseAddr("10.0.0.2"),
			Data: MapData{Nonce: n, Protocol: UDP, InternalPort: 5000, ExternalPort: 0, ExternalAddr: netip.IPv4Unspecified(),
				RemotePort: 3478, RemoteAddr: netip.MustParseAddr("198.51.100.9")}},
		{Version: Version, Opcode: OpMap, Lifetime: 0, ClientAddr: netip.MustParseAddr("10.0.0.2"),
			Data: MapData{Protocol: ProtocolAll, ExternalAddr: netip.IPv4Unspecified()}},
	}
	for _, want := range tests {
		t.Run(want.Opcode.String(), func(t *testing.T) {
			b := mustMarshal(t, want)
			if len(b)%4 != 0 {
				t.Fatalf("length %d not a multiple of 4", len(b))
			}
			got, err := ParseRequest(b)
			if err != nil {
				t.Fatalf("ParseRequest: %v", err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("round trip:\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestRequestEncodeErrors(t *testing.T) {
	tests := []struct {
		name string
		req  Request
	}{
		{"unknown opcode", Request{Opcode: 5}},
		{"all protocols with port", Request{Opcode: OpMap, Data: MapData{Protocol: ProtocolAll, InternalPort: 80}}},
		{"too long", Request{Opcode: OpMap, Options: Options{Unknown: []RawOption{{Code: 200, Data: make([]byte, 1100)}}}}},
		{"filter ::/0", Request{Opcode: OpMap, Options: Options{Filters: []Filter{{Remote: netip.MustParsePrefix("::/0")}}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tt.req.MarshalBinary(); !errors.Is(err, ErrInvalidRequest) {
				t.Errorf("err = %v, want ErrInvalidRequest", err)
			}
		})
	}
}

// mapReq returns a valid MAP request with room for edits.
func mapReq(t *testing.T) []byte {
	t.Helper()
	return mustMarshal(t, &Request{Opcode: OpMap, Lifetime: 60, ClientAddr: netip.MustParseAddr("10.0.0.2"),
		Data: MapData{Nonce: NewNonce(), Protocol: TCP, InternalPort: 80, ExternalAddr: netip.IPv4Unspecified()}})
}

func TestParseRequestErrors(t *testing.T) {
	edit := func(f func(b []byte) []byte) []byte { return f(mapReq(t)) }
	tests := []struct {
		name string
		b    []byte
		code ResultCode
	}{
		{"empty", nil, MalformedRequest},
		{"23 bytes", make([]byte, 23), MalformedRequest},
		{"R bit", edit(func(b []byte) []byte { b[1] |= 0x80; return b }), Success},
		{"1104 bytes", edit(func(b []byte) []byte { return append(b, make([]byte, 1104-len(b))...) }), MalformedRequest},
		{"not multiple of 4", edit(func(b []byte) []byte { return append(b, 0) }), MalformedRequest},
		{"version 1", edit(func(b []byte) []byte { b[0] = 1; return b }), UnsuppVersion},
		{"version 0", edit(func(b []byte) []byte { b[0] = 0; return b }), UnsuppVersion},
		{"opcode 3", edit(func(b []byte) []byte { b[1] = 3; return b }), UnsuppOpcode},
		{"MAP without data", edit(func(b []byte) []byte { return b[:HeaderLen] }), MalformedRequest},
		{"MAP short data", edit(func(b []byte) []byte { return b[:HeaderLen+32] }), MalformedRequest},
		{"PEER with MAP-sized data", edit(func(b []byte) []byte { b[1] = byte(OpPeer); return b }), MalformedRequest},
		{"protocol 0 with port", edit(func(b []byte) []byte { b[HeaderLen+12] = 0; return b }), MalformedRequest},
		{"truncated option", edit(func(b []byte) []byte { return append(b, 1, 0, 0, 16) }), MalformedOption},
		{"PREFER_FAILURE with PEER", func() []byte {
			return append(mustMarshal(t, &Request{Opcode: OpPeer, Data: MapData{Protocol: TCP, InternalPort: 1, RemoteAddr: netip.MustParseAddr("192.0.2.1")}}), 2, 0, 0, 0)
		}(), MalformedOption},
		{"FILTER with ANNOUNCE", func() []byte {
			b := mustMarshal(t, &Request{Opcode: OpAnnounce})
			return append(b, 3, 0, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
		}(), MalformedOption},
		{"THIRD_PARTY with ANNOUNCE", func() []byte {
			b := mustMarshal(t, &Request{Opcode: OpAnnounce})
			return append(b, append([]byte{1, 0, 0, 16}, make([]byte, 16)...)...)
		}(), MalformedOption},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseRequest(tt.b)
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("err = %v, want *DecodeError", err)
			}
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("%v does not wrap ErrMalformed", err)
			}
			if de.Code != tt.code {
				t.Errorf("code = %s, want %s (%v)", de.Code, tt.code, err)
			}
		})
	}
}

// TestParseRequestKeepsHeaderOnError: a server needs the opcode and the
// data to answer a bad request.
func TestParseRequestKeepsHeaderOnError(t *testing.T) {
	b := mapReq(t)
	b = append(b, 100, 0, 0, 0) // unknown mandatory option: not an error for the decoder
	req, err := ParseRequest(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(req.Options.Unknown) != 1 || !req.Options.Unknown[0].Code.Mandatory() {
		t.Errorf("unknown mandatory option not reported: %+v", req.Options)
	}
	b[0] = 3
	req, err = ParseRequest(b)
	if err == nil || req == nil || req.Opcode != OpMap || req.Lifetime != 60 {
		t.Errorf("got %+v, %v; want header kept with an error", req, err)
	}
}
