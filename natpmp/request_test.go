package natpmp

import (
	"bytes"
	"errors"
	"testing"
)

func TestRequestMarshal(t *testing.T) {
	tests := []struct {
		name string
		req  Request
		want []byte
	}{
		{"external address", Request{Op: OpExternalAddress}, []byte{0, 0}},
		{"map TCP", Request{Op: OpMapTCP, InternalPort: 8080, SuggestedExternalPort: 18080, Lifetime: 7200},
			[]byte{0, 2, 0, 0, 0x1f, 0x90, 0x46, 0xa0, 0, 0, 0x1c, 0x20}},
		{"map UDP any port", Request{Op: OpMapUDP, InternalPort: 5353, Lifetime: 60},
			[]byte{0, 1, 0, 0, 0x14, 0xe9, 0, 0, 0, 0, 0, 60}},
		{"delete all UDP", Request{Op: OpMapUDP}, []byte{0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.req.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tt.want) {
				t.Fatalf("MarshalBinary = % x, want % x", got, tt.want)
			}
			back, err := ParseRequest(got)
			if err != nil {
				t.Fatal(err)
			}
			if back != tt.req {
				t.Fatalf("ParseRequest = %+v, want %+v", back, tt.req)
			}
		})
	}
	if _, err := (Request{Op: 3}).MarshalBinary(); err == nil {
		t.Error("opcode 3 encoded without error")
	}
}

func TestParseRequestErrors(t *testing.T) {
	mapReq := []byte{0, 2, 0, 0, 0x1f, 0x90, 0, 0, 0, 0, 0x1c, 0x20}
	tests := []struct {
		name string
		in   []byte
		code ResultCode // 0: must wrap ErrMalformed
	}{
		{"empty", nil, 0},
		{"one byte", []byte{0}, 0},
		{"external address too long", []byte{0, 0, 0}, 0},
		{"map truncated", mapReq[:11], 0},
		{"map oversized", append(append([]byte(nil), mapReq...), 0), 0},
		{"a reply", []byte{0, 128, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4}, 0},
		{"version 1", []byte{1, 0}, ResultUnsupportedVersion},
		{"version 2 (PCP)", append([]byte{2, 1}, make([]byte, 58)...), ResultUnsupportedVersion},
		{"opcode 3", []byte{0, 3}, ResultUnsupportedOpcode},
		{"opcode 127", []byte{0, 127, 0, 0}, ResultUnsupportedOpcode},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseRequest(tt.in)
			if err == nil {
				t.Fatal("no error")
			}
			if tt.code == 0 {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("error %v does not wrap ErrMalformed", err)
				}
				return
			}
			var re *ResultError
			if !errors.As(err, &re) || re.Code != tt.code {
				t.Fatalf("error %v, want a *ResultError with code %v", err, tt.code)
			}
		})
	}
}

func FuzzParseRequest(f *testing.F) {
	f.Add([]byte{0, 0})
	f.Add([]byte{0, 1, 0, 0, 0x14, 0xe9, 0, 0, 0, 0, 0, 60})
	f.Add([]byte{0, 2, 0, 0, 0x1f, 0x90, 0x46, 0xa0, 0, 0, 0x1c, 0x20})
	f.Add([]byte{0, 2, 0xff, 0xff, 0x1f, 0x90, 0x46, 0xa0, 0, 0, 0x1c, 0x20}) // reserved bits set
	f.Add([]byte{1, 0})
	f.Add([]byte{0, 5})
	f.Add([]byte{0, 130, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := ParseRequest(b)
		if err != nil {
			var re *ResultError
			if !errors.Is(err, ErrMalformed) && !errors.As(err, &re) {
				t.Fatalf("error %v is neither malformed nor a result", err)
			}
			return
		}
		out, err := req.MarshalBinary()
		if err != nil {
			t.Fatalf("parsed %+v does not encode: %v", req, err)
		}
		if len(out) != len(b) || !bytes.Equal(out[:2], b[:2]) || len(b) > 4 && !bytes.Equal(out[4:], b[4:]) {
			t.Fatalf("round trip % x -> % x", b, out)
		}
		again, err := ParseRequest(out)
		if err != nil || again != req {
			t.Fatalf("re-parse %+v, %v; want %+v", again, err, req)
		}
	})
}
