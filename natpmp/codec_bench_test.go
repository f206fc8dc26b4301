package natpmp_test

import (
	"net/netip"
	"testing"

	"github.com/portmap-dev/portmap/natpmp"
)

// Codec micro-benchmarks: what one NAT-PMP exchange costs the client and a
// gateway built on this package (portmaptest), with allocations. Run with
// "go test -run ^$ -bench . -benchmem ./natpmp"; bench/ (go run ./bench)
// runs them too and puts them in its report.

var (
	benchMapRequest = natpmp.Request{Op: natpmp.OpMapTCP, InternalPort: 8080, SuggestedExternalPort: 18080, Lifetime: 7200}
	benchMapReply   = natpmp.Response{Op: natpmp.OpMapTCP + natpmp.OpReply, Result: natpmp.ResultSuccess, Epoch: 3600, InternalPort: 8080, ExternalPort: 18080, Lifetime: 7200}
	benchAddrReply  = natpmp.Response{Op: natpmp.OpExternalAddress + natpmp.OpReply, Epoch: 3600, ExternalAddr: netip.MustParseAddr("203.0.113.5")}
)

// benchSink keeps results alive so that the compiler cannot drop the work.
var benchSink []byte

func mustMarshal(b *testing.B, m interface{ MarshalBinary() ([]byte, error) }) []byte {
	b.Helper()
	wire, err := m.MarshalBinary()
	if err != nil {
		b.Fatal(err)
	}
	return wire
}

// BenchmarkRequestAppend encodes a MAP request into a reused buffer, as a
// client does for every (re)transmission.
func BenchmarkRequestAppend(b *testing.B) {
	b.ReportAllocs()
	buf := make([]byte, 0, 16)
	for b.Loop() {
		var err error
		if buf, err = benchMapRequest.AppendBinary(buf[:0]); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(buf)))
}

// BenchmarkRequestMarshal encodes a MAP request into a new slice.
func BenchmarkRequestMarshal(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		wire, err := benchMapRequest.MarshalBinary()
		if err != nil {
			b.Fatal(err)
		}
		benchSink = wire
	}
}

// BenchmarkRequestParse decodes a MAP request, as a gateway does.
func BenchmarkRequestParse(b *testing.B) {
	wire := mustMarshal(b, benchMapRequest)
	b.ReportAllocs()
	b.SetBytes(int64(len(wire)))
	for b.Loop() {
		r, err := natpmp.ParseRequest(wire)
		if err != nil || r.InternalPort != 8080 {
			b.Fatal(r, err)
		}
	}
}

// BenchmarkResponseAppend encodes a MAP reply into a reused buffer.
func BenchmarkResponseAppend(b *testing.B) {
	b.ReportAllocs()
	buf := make([]byte, 0, 16)
	for b.Loop() {
		var err error
		if buf, err = benchMapReply.AppendBinary(buf[:0]); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(buf)))
}

// BenchmarkResponseParse decodes a MAP reply, as the client does.
func BenchmarkResponseParse(b *testing.B) {
	wire := mustMarshal(b, benchMapReply)
	b.ReportAllocs()
	b.SetBytes(int64(len(wire)))
	for b.Loop() {
		r, err := natpmp.ParseResponse(wire)
		if err != nil || r.ExternalPort != 18080 {
			b.Fatal(r, err)
		}
	}
}

// BenchmarkAddressResponseParse decodes an external address reply (also
// the form of an announcement).
func BenchmarkAddressResponseParse(b *testing.B) {
	wire := mustMarshal(b, benchAddrReply)
	b.ReportAllocs()
	for b.Loop() {
		r, err := natpmp.ParseResponse(wire)
		if err != nil || !r.ExternalAddr.IsValid() {
			b.Fatal(r, err)
		}
	}
}

// BenchmarkExchange is the whole codec work of one mapping: the client
// encodes the request, the gateway decodes it and encodes its reply, the
// client decodes the reply.
func BenchmarkExchange(b *testing.B) {
	b.ReportAllocs()
	req := make([]byte, 0, 16)
	resp := make([]byte, 0, 16)
	for b.Loop() {
		var err error
		if req, err = benchMapRequest.AppendBinary(req[:0]); err != nil {
			b.Fatal(err)
		}
		r, err := natpmp.ParseRequest(req)
		if err != nil {
			b.Fatal(err)
		}
		reply := natpmp.Response{Op: r.Op + natpmp.OpReply, Epoch: 3600, InternalPort: r.InternalPort, ExternalPort: r.SuggestedExternalPort, Lifetime: r.Lifetime}
		if resp, err = reply.AppendBinary(resp[:0]); err != nil {
			b.Fatal(err)
		}
		if _, err := natpmp.ParseResponse(resp); err != nil {
			b.Fatal(err)
		}
	}
}
