package pcp_test

import (
	"net/netip"
	"testing"

	"github.com/portmap-dev/portmap/pcp"
)

// Codec micro-benchmarks: what one PCP MAP exchange costs the client and a
// server built on this package (portmaptest), with allocations. Run with
// "go test -run ^$ -bench . -benchmem ./pcp"; bench/ (go run ./bench) runs
// them too and puts them in its report.

var (
	benchNonce = pcp.Nonce{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	benchData  = pcp.MapData{
		Nonce:        benchNonce,
		Protocol:     pcp.TCP,
		InternalPort: 8080,
		ExternalPort: 18080,
		ExternalAddr: netip.IPv4Unspecified(),
	}
	benchMapRequest = pcp.Request{
		Opcode:     pcp.OpMap,
		Lifetime:   7200,
		ClientAddr: netip.MustParseAddr("192.168.1.20"),
		Data:       benchData,
	}
	// benchMapRequestOpts carries the options a careful client may send:
	// PREFER_FAILURE and one FILTER.
	benchMapRequestOpts = pcp.Request{
		Opcode:     pcp.OpMap,
		Lifetime:   7200,
		ClientAddr: netip.MustParseAddr("192.168.1.20"),
		Data:       benchData,
		Options: pcp.Options{
			PreferFailure: true,
			Filters:       []pcp.Filter{{Remote: netip.MustParsePrefix("198.51.100.0/24"), RemotePort: 443}},
		},
	}
	benchMapResponse = pcp.Response{
		Opcode:   pcp.OpMap,
		Result:   pcp.Success,
		Lifetime: 7200,
		Epoch:    3600,
		HasData:  true,
		Data: pcp.MapData{
			Nonce:        benchNonce,
			Protocol:     pcp.TCP,
			InternalPort: 8080,
			ExternalPort: 18080,
			ExternalAddr: netip.MustParseAddr("203.0.113.5"),
		},
	}
)

// benchSink keeps results alive so that the compiler cannot drop the work.
var benchSink []byte

func marshal(b *testing.B, m interface{ MarshalBinary() ([]byte, error) }) []byte {
	b.Helper()
	wire, err := m.MarshalBinary()
	if err != nil {
		b.Fatal(err)
	}
	return wire
}

// BenchmarkMapRequestAppend encodes a MAP request into a reused buffer, as
// the client does for every (re)transmission.
func BenchmarkMapRequestAppend(b *testing.B) {
	b.ReportAllocs()
	buf := make([]byte, 0, 1100)
	for b.Loop() {
		var err error
		if buf, err = benchMapRequest.AppendBinary(buf[:0]); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(buf)))
}

// BenchmarkMapRequestMarshal encodes a MAP request into a new slice.
func BenchmarkMapRequestMarshal(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		wire, err := benchMapRequest.MarshalBinary()
		if err != nil {
			b.Fatal(err)
		}
		benchSink = wire
	}
}

// BenchmarkMapRequestParse decodes a MAP request, as a server does.
func BenchmarkMapRequestParse(b *testing.B) {
	wire := marshal(b, &benchMapRequest)
	b.ReportAllocs()
	b.SetBytes(int64(len(wire)))
	for b.Loop() {
		r, err := pcp.ParseRequest(wire)
		if err != nil || r.Data.InternalPort != 8080 {
			b.Fatal(r, err)
		}
	}
}

// BenchmarkMapRequestOptionsAppend encodes a MAP request with
// PREFER_FAILURE and a FILTER.
func BenchmarkMapRequestOptionsAppend(b *testing.B) {
	b.ReportAllocs()
	buf := make([]byte, 0, 1100)
	for b.Loop() {
		var err error
		if buf, err = benchMapRequestOpts.AppendBinary(buf[:0]); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(buf)))
}

// BenchmarkMapRequestOptionsParse decodes a MAP request with options.
func BenchmarkMapRequestOptionsParse(b *testing.B) {
	wire := marshal(b, &benchMapRequestOpts)
	b.ReportAllocs()
	b.SetBytes(int64(len(wire)))
	for b.Loop() {
		r, err := pcp.ParseRequest(wire)
		if err != nil || len(r.Options.Filters) != 1 {
			b.Fatal(r, err)
		}
	}
}

// BenchmarkMapResponseAppend encodes a MAP response into a reused buffer.
func BenchmarkMapResponseAppend(b *testing.B) {
	b.ReportAllocs()
	buf := make([]byte, 0, 1100)
	for b.Loop() {
		var err error
		if buf, err = benchMapResponse.AppendBinary(buf[:0]); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(buf)))
}

// BenchmarkMapResponseParse decodes and validates a MAP response, as the
// client does.
func BenchmarkMapResponseParse(b *testing.B) {
	wire := marshal(b, &benchMapResponse)
	b.ReportAllocs()
	b.SetBytes(int64(len(wire)))
	for b.Loop() {
		r, err := pcp.ParseResponse(wire)
		if err != nil || r.Data.ExternalPort != 18080 {
			b.Fatal(r, err)
		}
	}
}

// BenchmarkMapExchange is the whole codec work of one mapping: the client
// encodes the request, the server decodes it and encodes its response, the
// client decodes the response.
func BenchmarkMapExchange(b *testing.B) {
	b.ReportAllocs()
	req := make([]byte, 0, 1100)
	resp := make([]byte, 0, 1100)
	ext := netip.MustParseAddr("203.0.113.5")
	for b.Loop() {
		var err error
		if req, err = benchMapRequest.AppendBinary(req[:0]); err != nil {
			b.Fatal(err)
		}
		r, err := pcp.ParseRequest(req)
		if err != nil {
			b.Fatal(err)
		}
		reply := pcp.Response{Opcode: r.Opcode, Lifetime: r.Lifetime, Epoch: 3600, HasData: true, Data: r.Data}
		reply.Data.ExternalAddr = ext
		if resp, err = reply.AppendBinary(resp[:0]); err != nil {
			b.Fatal(err)
		}
		if _, err := pcp.ParseResponse(resp); err != nil {
			b.Fatal(err)
		}
	}
}
