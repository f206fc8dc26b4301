package pcp

import (
	"bytes"
	"reflect"
	"testing"
)

func addCaptures(f *testing.F, resp bool) {
	for _, c := range captures {
		if resp {
			f.Add(unhex(f, c.resp))
		} else {
			f.Add(unhex(f, c.req))
		}
	}
}

// FuzzParseRequest: no panic; a decoded request re-encodes to a message
// that decodes to the same request.
func FuzzParseRequest(f *testing.F) {
	addCaptures(f, false)
	f.Add([]byte{})
	f.Add(make([]byte, 24))
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := ParseRequest(b)
		if err != nil {
			return
		}
		if len(b) < HeaderLen || len(b) > MaxMessageLen || len(b)%4 != 0 {
			t.Fatalf("accepted a request of %d bytes", len(b))
		}
		enc, err := req.MarshalBinary()
		if err != nil {
			t.Fatalf("re-encode %+v: %v", req, err)
		}
		back, err := ParseRequest(enc)
		if err != nil {
			t.Fatalf("re-encoded request rejected: %v\n%x", err, enc)
		}
		if !reflect.DeepEqual(back, req) {
			t.Fatalf("round trip:\n%+v\n%+v", back, req)
		}
	})
}

// FuzzParseResponse: no panic; the §8.3 checks hold for every accepted
// PCP response; accepted responses round-trip.
func FuzzParseResponse(f *testing.F) {
	addCaptures(f, true)
	f.Add(natpmpReply(129, 1, 8))
	f.Add(natpmpReply(0, 1, 8))
	f.Add(unhex(f, "008000030000000000000220000000000000000000000000"))
	f.Fuzz(func(t *testing.T, b []byte) {
		resp, err := ParseResponse(b)
		if err != nil {
			return
		}
		if resp.Version == 0 {
			if resp.Result != UnsuppVersion || len(b) < 8 {
				t.Fatalf("NAT-PMP reply accepted: %+v from %x", resp, b)
			}
			return
		}
		if len(b) < HeaderLen || len(b) > MaxMessageLen || len(b)%4 != 0 || b[1]&0x80 == 0 {
			t.Fatalf("accepted %x", b)
		}
		if resp.Version != Version {
			if resp.Result != UnsuppVersion {
				t.Fatalf("version %d accepted with result %s", resp.Version, resp.Result)
			}
			return
		}
		if resp.Result == Success && !resp.HasData && resp.Opcode != OpAnnounce {
			t.Fatalf("SUCCESS %s without data", resp.Opcode)
		}
		enc, err := resp.MarshalBinary()
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		back, err := ParseResponse(enc)
		if err != nil {
			t.Fatalf("re-encoded response rejected: %v", err)
		}
		if !reflect.DeepEqual(back, resp) {
			t.Fatalf("round trip:\n%+v\n%+v", back, resp)
		}
	})
}

// FuzzParseOptions: no panic; accepted options re-encode to the same
// number of bytes and decode to the same value.
func FuzzParseOptions(f *testing.F) {
	f.Add(unhex(f, "030000140078000000000000000000000000ffff0b4d0000c8000004deadbeef"))
	f.Add(unhex(f, "0100001000000000000000000000ffff0a4d0003"))
	f.Add(unhex(f, "02000000"))
	f.Add(unhex(f, "c8000003deadbe00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b)%4 != 0 {
			b = b[:len(b)&^3] // options always start and end on a word
		}
		o, err := parseOptions(b)
		if err != nil {
			return
		}
		enc, err := o.append(nil)
		if err != nil {
			t.Fatalf("re-encode %+v: %v", o, err)
		}
		if len(enc) != len(b) || len(enc) != o.len() {
			t.Fatalf("re-encoded %d bytes from %d (len() %d)", len(enc), len(b), o.len())
		}
		back, err := parseOptions(enc)
		if err != nil || !reflect.DeepEqual(back, o) {
			t.Fatalf("round trip: %+v %v vs %+v", back, err, o)
		}
	})
}

// FuzzNonceText: UnmarshalText accepts exactly the 24-hex-digit forms.
func FuzzNonceText(f *testing.F) {
	f.Add([]byte("0969c3d412e73d856f797218"))
	f.Add([]byte("zz"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var n Nonce
		if err := n.UnmarshalText(b); err != nil {
			return
		}
		out, _ := n.MarshalText()
		if !bytes.EqualFold(out, b) {
			t.Fatalf("%q decoded to %v", b, n)
		}
	})
}
