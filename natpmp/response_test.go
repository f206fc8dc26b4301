package natpmp

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"
)

func TestParseResponse(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want Response
	}{
		{
			// Captured from miniupnpd 2.3.1 in the test bed (natpmpc -g).
			"external address", []byte{0, 128, 0, 0, 0, 0, 0, 122, 11, 77, 0, 1},
			Response{Op: 128, Epoch: 122, ExternalAddr: netip.MustParseAddr("11.77.0.1")},
		},
		{
			"map TCP", []byte{0, 130, 0, 0, 0, 0, 0, 241, 0x4e, 0x21, 0x4e, 0x21, 0, 0, 0, 60},
			Response{Op: 130, Epoch: 241, InternalPort: 20001, ExternalPort: 20001, Lifetime: 60},
		},
		{
			"delete all UDP", []byte{0, 129, 0, 0, 0, 0, 0, 241, 0, 0, 0, 0, 0, 0, 0, 0},
			Response{Op: 129, Epoch: 241},
		},
		{
			"refused with full length", []byte{0, 130, 0, 2, 0, 0, 1, 0, 0x1f, 0x90, 0, 0, 0, 0, 0, 0},
			Response{Op: 130, Result: ResultNotAuthorized, Epoch: 256, InternalPort: 8080},
		},
		{
			"unsupported version, op 0 (RFC 6886 §3.5 figure)", []byte{0, 0, 0, 1, 0, 0, 0, 9},
			Response{Op: 0, Result: ResultUnsupportedVersion, Epoch: 9, Short: true},
		},
		{
			"unsupported version, op 128", []byte{0, 128, 0, 1, 0, 0, 0, 9},
			Response{Op: 128, Result: ResultUnsupportedVersion, Epoch: 9, Short: true},
		},
		{
			"short network failure to a map", []byte{0, 129, 0, 3, 0, 0, 0, 9},
			Response{Op: 129, Result: ResultNetworkFailure, Epoch: 9, Short: true},
		},
		{
			"no external address yet", []byte{0, 128, 0, 3, 0, 0, 0, 1, 0, 0, 0, 0},
			Response{Op: 128, Result: ResultNetworkFailure, Epoch: 1, ExternalAddr: netip.IPv4Unspecified()},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseResponse(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("ParseResponse = %+v, want %+v", got, tt.want)
			}
			out, err := got.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out, tt.in) {
				t.Fatalf("MarshalBinary = % x, want % x", out, tt.in)
			}
		})
	}
}

func TestParseResponseRejects(t *testing.T) {
	ext := []byte{0, 128, 0, 0, 0, 0, 0, 122, 11, 77, 0, 1}
	mp := []byte{0, 130, 0, 0, 0, 0, 0, 241, 0x4e, 0x21, 0x4e, 0x21, 0, 0, 0, 60}
	tests := []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"header only", ext[:4]},
		{"7 bytes", ext[:7]},
		{"success without address (8 bytes)", ext[:8]},
		{"external address truncated", ext[:11]},
		{"external address oversized", append(append([]byte(nil), ext...), 0)},
		{"external address with map length", append(append([]byte(nil), ext...), 0, 0, 0, 0)},
		{"map truncated to 12", mp[:12]},
		{"map truncated to 15", mp[:15]},
		{"map oversized", append(append([]byte(nil), mp...), 0)},
		{"map of 1100 bytes", append(append([]byte(nil), mp...), make([]byte, 1084)...)},
		{"error reply of 9 bytes", []byte{0, 129, 0, 3, 0, 0, 0, 9, 0}},
		{"version 1", append([]byte{1}, ext[1:]...)},
		{"PCP announce (version 2)", append([]byte{2, 128, 0, 0}, make([]byte, 20)...)},
		{"a request opcode", []byte{0, 2, 0, 0, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0}},
		{"opcode 0 success", []byte{0, 0, 0, 0, 0, 0, 0, 9}},
		{"opcode 0 of 12 bytes", []byte{0, 0, 0, 1, 0, 0, 0, 9, 0, 0, 0, 0}},
		{"unknown reply opcode 131", []byte{0, 131, 0, 5, 0, 0, 0, 9}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ParseResponse(tt.in)
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("ParseResponse(% x) = %+v, %v; want ErrMalformed", tt.in, r, err)
			}
		})
	}
}

func TestResponseMarshalErrors(t *testing.T) {
	for _, r := range []Response{
		{Op: 0},
		{Op: 128}, // no address
		{Op: 128, ExternalAddr: netip.MustParseAddr("2001:db8::1")}, // not IPv4
		{Op: 131},
		{Op: 129, Short: true}, // short success
		{Op: 5, Result: 1, Short: true},
	} {
		if b, err := r.MarshalBinary(); err == nil {
			t.Errorf("%+v encoded as % x without error", r, b)
		}
	}
	b, err := UnsupportedVersionResponse(7).MarshalBinary()
	if err != nil || !bytes.Equal(b, []byte{0, 128, 0, 1, 0, 0, 0, 7}) {
		t.Errorf("UnsupportedVersionResponse = % x, %v", b, err)
	}
}

func FuzzParseResponse(f *testing.F) {
	f.Add([]byte{0, 128, 0, 0, 0, 0, 0, 122, 11, 77, 0, 1})
	f.Add([]byte{0, 130, 0, 0, 0, 0, 0, 241, 0x4e, 0x21, 0x4e, 0x21, 0, 0, 0, 60})
	f.Add([]byte{0, 129, 0, 0, 0, 0, 0, 241, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0, 0, 0, 1, 0, 0, 0, 9})
	f.Add([]byte{0, 128, 0, 1, 0, 0, 0, 9})
	f.Add([]byte{0, 129, 0, 3, 0, 0, 0, 9})
	f.Add([]byte{2, 128, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseResponse(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if len(b) != shortResponseSize && len(b) != externalAddressResponseSize && len(b) != mapResponseSize {
			t.Fatalf("accepted a reply of %d bytes", len(b))
		}
		// Every byte of a reply is meaningful: encoding gives it back.
		out, err := r.MarshalBinary()
		if err != nil {
			t.Fatalf("parsed %+v does not encode: %v", r, err)
		}
		if !bytes.Equal(out, b) {
			t.Fatalf("round trip % x -> % x", b, out)
		}
	})
}
