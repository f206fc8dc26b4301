package pcp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"reflect"
	"testing"
)

func TestCapturesResponses(t *testing.T) {
	ext := netip.MustParseAddr("11.77.0.1")
	tests := map[string]struct {
		result   ResultCode
		lifetime uint32
		extPort  uint16
		ext      netip.Addr
	}{
		"announce":                                   {Success, 0, 0, netip.Addr{}},
		"map-udp-30001":                              {Success, 120, 30001, ext},
		"peer-tcp-30002-to-11.77.0.2:40000":          {Success, 120, 30002, ext},
		"map-address-mismatch":                       {AddressMismatch, 0, 30003, netip.IPv4Unspecified()},
		"map-ipv6-pinhole-tcp-30010":                 {Success, 120, 30010, netip.MustParseAddr("fd77::2")},
		"map-prefer-failure":                         {Success, 120, 30020, ext},
		"map-filter-and-unknown-optional-option":     {Success, 120, 30026, ext},
		"map-unknown-mandatory-option-unsupp-option": {UnsuppOption, 0, 30022, netip.IPv4Unspecified()},
		"map-third-party-not-allowed":                {UnsuppOption, 0, 30023, netip.IPv4Unspecified()},
		"map-all-protocols-malformed-request":        {MalformedRequest, 0, 0, ext},
		"delete-unknown-no-resources":                {NoResources, 30, 30021, ext},
	}
	for _, c := range captures {
		t.Run(c.name, func(t *testing.T) {
			resp, err := ParseResponse(unhex(t, c.resp))
			if err != nil {
				t.Fatalf("ParseResponse: %v", err)
			}
			if c.name == "announce-version3-unsupp-version" {
				// miniupnpd answers with its own version, 2: a PCP server.
				if resp.Result != UnsuppVersion || resp.Version != 2 {
					t.Errorf("got %+v", resp)
				}
				return
			}
			want, ok := tests[c.name]
			if !ok {
				t.Fatalf("no expectation for %s", c.name)
			}
			req, err := ParseRequest(unhex(t, c.req))
			if err != nil {
				t.Fatal(err)
			}
			if resp.Result != want.result || resp.Lifetime != want.lifetime || resp.Opcode != req.Opcode {
				t.Errorf("result %s lifetime %d opcode %s; want %s %d %s", resp.Result, resp.Lifetime, resp.Opcode, want.result, want.lifetime, req.Opcode)
			}
			if req.Opcode == OpAnnounce {
				return
			}
			if resp.Data.Nonce != req.Data.Nonce || resp.Data.InternalPort != req.Data.InternalPort || resp.Data.Protocol != req.Data.Protocol {
				t.Errorf("response does not echo nonce/protocol/port: %+v vs %+v", resp.Data, req.Data)
			}
			if resp.Data.ExternalPort != want.extPort || resp.Data.ExternalAddr != want.ext {
				t.Errorf("external %v:%d, want %v:%d", resp.Data.ExternalAddr, resp.Data.ExternalPort, want.ext, want.extPort)
			}
			if !reflect.DeepEqual(resp.Options, req.Options) {
				t.Errorf("options %+v, want echoed %+v", resp.Options, req.Options)
			}
		})
	}
}

func TestResponseRoundTrip(t *testing.T) {
	tests := []*Response{
		{Version: Version, Opcode: OpAnnounce, Result: Success, Epoch: 42},
		{Version: Version, Opcode: OpMap, Result: Success, Lifetime: 3600, Epoch: 7, HasData: true,
			Data:    MapData{Nonce: NewNonce(), Protocol: TCP, InternalPort: 22, ExternalPort: 2222, ExternalAddr: netip.MustParseAddr("198.51.100.1")},
			Options: Options{PreferFailure: true, Unknown: []RawOption{{Code: 130, Data: []byte{9}}}}},
		{Version: Version, Opcode: OpPeer, Result: Success, Lifetime: 60, HasData: true,
			Data: MapData{Nonce: NewNonce(), Protocol: UDP, InternalPort: 1, ExternalPort: 2, ExternalAddr: netip.MustParseAddr("2001:db8::1"),
				RemotePort: 3, RemoteAddr: netip.MustParseAddr("2001:db8::2")}},
		{Version: Version, Opcode: OpMap, Result: NotAuthorized, Lifetime: 1800},
		{Version: 1, Opcode: OpMap, Result: UnsuppVersion, Epoch: 5},
		{Version: 0, Opcode: OpMap, Result: UnsuppVersion, Epoch: 99},
	}
	for _, want := range tests {
		t.Run(want.Opcode.String()+"/"+want.Result.String(), func(t *testing.T) {
			b := mustMarshal(t, want)
			got, err := ParseResponse(b)
			if err != nil {
				t.Fatalf("ParseResponse(%x): %v", b, err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("round trip:\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

// natpmpReply builds a NAT-PMP reply: version 0, op, 16-bit result, epoch.
func natpmpReply(op byte, result uint16, n int) []byte {
	b := make([]byte, n)
	b[1] = op
	binary.BigEndian.PutUint16(b[2:4], result)
	if n >= 8 {
		binary.BigEndian.PutUint32(b[4:8], 1234)
	}
	return b
}

func TestParseResponseNATPMP(t *testing.T) {
	tests := []struct {
		name string
		b    []byte
		ok   bool
	}{
		{"RFC 6886 drawing: opcode 0", natpmpReply(0, 1, 8), true},
		{"opcode 128+1", natpmpReply(129, 1, 8), true},
		{"opcode 128, 12 bytes", natpmpReply(128, 1, 12), true},
		{"4 bytes", natpmpReply(129, 1, 4), false},
		{"7 bytes", natpmpReply(129, 1, 7), false},
		{"request (opcode 1)", natpmpReply(1, 1, 8), false},
		{"result 3", natpmpReply(129, 3, 8), false},
		{"public address reply", natpmpReply(128, 0, 12), false},
		{"too long", natpmpReply(129, 1, 1104), false},
		// miniupnpd 2.3.1 answers a PCP request whose length is not a
		// multiple of 4 with version 0, opcode 0x80, result byte 3.
		{"miniupnpd odd-length reply", unhex(t, "008000030000000000000220000000000000000000000000"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ParseResponse(tt.b)
			if !tt.ok {
				if !errors.Is(err, ErrMalformed) {
					t.Errorf("got %+v, %v; want ErrMalformed", r, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.Version != 0 || r.Result != UnsuppVersion || r.Epoch != 1234 || r.HasData {
				t.Errorf("got %+v", r)
			}
		})
	}
}

func TestParseResponseErrors(t *testing.T) {
	ok := mustMarshal(t, &Response{Opcode: OpMap, Result: Success, Lifetime: 60, Data: MapData{Protocol: TCP, InternalPort: 80, ExternalAddr: netip.MustParseAddr("192.0.2.1")}})
	edit := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(ok)) }
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"20 bytes", edit(func(b []byte) []byte { return b[:20] })},
		{"23 bytes", edit(func(b []byte) []byte { return b[:23] })},
		{"1104 bytes", edit(func(b []byte) []byte { return append(b, make([]byte, 1104-len(b))...) })},
		{"not multiple of 4", edit(func(b []byte) []byte { return append(b, 0, 0) })},
		{"R bit clear", edit(func(b []byte) []byte { b[1] &^= 0x80; return b })},
		{"version 1 success", edit(func(b []byte) []byte { b[0] = 1; return b })},
		{"version 3 success", edit(func(b []byte) []byte { b[0] = 3; return b })},
		{"opcode 3", edit(func(b []byte) []byte { b[1] = 0x83; return b })},
		{"success without data", edit(func(b []byte) []byte { return b[:HeaderLen] })},
		{"error with partial data", edit(func(b []byte) []byte { b[3] = byte(NotAuthorized); return b[:HeaderLen+12] })},
		{"PEER with MAP-sized data", edit(func(b []byte) []byte { b[1] = 0x82; return b })},
		{"option past end", edit(func(b []byte) []byte { return append(b, 200, 0, 0, 8, 0, 0, 0, 0) })},
		{"THIRD_PARTY length 4", edit(func(b []byte) []byte { return append(b, 1, 0, 0, 4, 0, 0, 0, 0) })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if r, err := ParseResponse(tt.b); !errors.Is(err, ErrMalformed) {
				t.Errorf("got %+v, %v; want ErrMalformed", r, err)
			}
		})
	}
}

func TestParseResponseAccepted(t *testing.T) {
	base := &Response{Opcode: OpMap, Result: NotAuthorized, Lifetime: 1800, Epoch: 3}
	hdrOnly := mustMarshal(t, base)
	if len(hdrOnly) != HeaderLen {
		t.Fatalf("error response without HasData encoded to %d bytes", len(hdrOnly))
	}
	r, err := ParseResponse(hdrOnly)
	if err != nil || r.HasData || r.Result != NotAuthorized {
		t.Errorf("header-only error response: %+v, %v", r, err)
	}

	// Version 1 UNSUPP_VERSION with whatever follows: header only.
	v1 := append(mustMarshal(t, &Response{Version: 1, Opcode: OpMap, Result: UnsuppVersion}), make([]byte, 8)...)
	r, err = ParseResponse(v1)
	if err != nil || r.Version != 1 || r.HasData {
		t.Errorf("version 1 UNSUPP_VERSION: %+v, %v", r, err)
	}

	// Reserved fields are ignored, unknown result codes kept.
	b := mustMarshal(t, &Response{Opcode: OpAnnounce, Result: 99, Epoch: 8})
	b[2] = 0xff
	b[20] = 0xff
	r, err = ParseResponse(b)
	if err != nil || r.Result != 99 || r.Result.String() != "Result(99)" {
		t.Errorf("reserved bits / unknown result: %+v, %v", r, err)
	}

	// Unknown options, mandatory or not, are kept and do not fail a response.
	b = mustMarshal(t, &Response{Opcode: OpAnnounce, Options: Options{Unknown: []RawOption{{Code: 99, Data: []byte{1, 2, 3, 4, 5}}, {Code: 250}}}})
	r, err = ParseResponse(b)
	if err != nil || len(r.Options.Unknown) != 2 || !bytes.Equal(r.Options.Unknown[0].Data, []byte{1, 2, 3, 4, 5}) {
		t.Errorf("unknown options: %+v, %v", r, err)
	}
}
