package upnp

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// handlerTransport serves SOAP requests in-process (no sockets), for
// tests that make thousands of requests.
type handlerTransport func(fakeRequest) fakeReply

func (h handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	body, err := io.ReadAll(r.Body)
	r.Body.Close()
	if err != nil {
		return nil, err
	}
	req, err := decodeFakeRequest(body)
	if err != nil {
		return nil, err
	}
	req.SOAPAction = r.Header.Get("SOAPAction")
	rep := h(req)
	status := rep.Status
	if status == 0 {
		status = http.StatusOK
		if strings.Contains(rep.Body, "Fault>") {
			status = http.StatusInternalServerError
		}
	}
	return &http.Response{StatusCode: status, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(rep.Body)),
		ContentLength: int64(len(rep.Body)), Request: r, ProtoMajor: 1, ProtoMinor: 1}, nil
}

func inProcessWAN(ft *fakeTable, urn string) *WANConnection {
	u, _ := url.Parse("http://fake.invalid/ctl")
	return NewWANConnection(Service{Type: urn, ControlURL: u}, &http.Client{Transport: handlerTransport(ft.handle)})
}

// FuzzListPortMappingsSafe builds a table from the input (3 bytes per
// mapping: port and protocol) and checks that ListPortMappings never asks
// a reply for more than MaxPerReply entries (miniupnpd would crash past
// 128), lists every mapping exactly once, and stays near one request per
// mapping at worst.
func FuzzListPortMappingsSafe(f *testing.F) {
	seq := func(start, n int, udp bool) []byte {
		var b []byte
		for i := range n {
			p := start + i
			pr := byte(0)
			if udp {
				pr = 1
			}
			b = append(b, byte(p>>8), byte(p), pr)
		}
		return b
	}
	f.Add(byte(64), []byte{})
	f.Add(byte(64), seq(40000, 200, false))
	f.Add(byte(0), append(seq(1000, 150, true), seq(60000, 90, false)...))
	f.Add(byte(37), seq(65400, 136, false))
	f.Fuzz(func(t *testing.T, lim byte, data []byte) {
		limit := 16 + int(lim)%(MaxSafePerReply-15) // 16 to 128
		ft := &fakeTable{}
		type key struct {
			port  uint16
			proto string
		}
		seen := map[key]bool{}
		for i := 0; i+2 < len(data) && len(ft.entries) < 400; i += 3 {
			port := uint16(data[i])<<8 | uint16(data[i+1])
			if port == 0 {
				continue
			}
			proto := "TCP"
			if data[i+2]&1 == 1 {
				proto = "UDP"
			}
			if seen[key{port, proto}] {
				continue
			}
			seen[key{port, proto}] = true
			ft.add(port, proto, "")
		}
		c := inProcessWAN(ft, urnIP2)
		got, err := c.ListPortMappings(context.Background(), ListOptions{MaxPerReply: limit, MaxCalls: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		if ft.maxInReply > limit {
			t.Fatalf("a reply held %d entries (limit %d)", ft.maxInReply, limit)
		}
		if len(got) != len(ft.entries) {
			t.Fatalf("listed %d of %d", len(got), len(ft.entries))
		}
		// Near-linear: fetching every index, sweeping every port once and
		// a few probes.
		if req := ft.listCalls + ft.genericCall; req > 2*len(ft.entries)+2*131070/limit+64 {
			t.Fatalf("%d requests for %d mappings", req, len(ft.entries))
		}
	})
}
