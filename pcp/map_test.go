package pcp

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestMapRenewDelete(t *testing.T) {
	s := newFakeServer(t, func(s *fakeServer, from netip.AddrPort, req *Request, raw []byte, perr error) [][]byte {
		if perr != nil {
			return nil
		}
		resp := s.okResponse(req)
		if req.Opcode == OpMap && req.Lifetime > 0 {
			resp.Lifetime = min(req.Lifetime, 600) // the server grants less
			if req.Data.ExternalPort == 8080 {
				resp.Data.ExternalPort = 18080 // and another port
			}
		}
		return [][]byte{s.marshal(resp)}
	})
	c, _ := newTestClient(t, s)
	ctx := ctxT(t)

	m, err := c.Map(ctx, MapRequest{Protocol: TCP, InternalPort: 8080, SuggestedExternal: netip.AddrPortFrom(netip.Addr{}, 8080), Lifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if m.External != netip.AddrPortFrom(fakeExternal, 18080) || m.Lifetime != 600*time.Second || m.Requested != time.Hour {
		t.Errorf("granted values not reported: %+v", m)
	}
	if m.InternalAddr != netip.MustParseAddr("127.0.0.1") || m.Epoch != 1000 || m.Nonce.IsZero() || m.Opcode != OpMap {
		t.Errorf("mapping: %+v", m)
	}
	if m.Expires() != m.Received.Add(600*time.Second) {
		t.Error("Expires")
	}
	if d := m.RenewAfter(); d < 300*time.Second || d > 375*time.Second {
		t.Errorf("RenewAfter = %v, want in [1/2, 5/8] of 600s", d)
	}

	m2, err := c.Renew(ctx, m, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, m2); err != nil {
		t.Fatal(err)
	}
	reqs := s.requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3", len(reqs))
	}
	for i, r := range reqs {
		if r.Data.Nonce != m.Nonce {
			t.Errorf("request %d nonce %v, want the mapping's %v", i, r.Data.Nonce, m.Nonce)
		}
		if r.ClientAddr != netip.MustParseAddr("127.0.0.1") || r.Data.Protocol != TCP || r.Data.InternalPort != 8080 {
			t.Errorf("request %d: %+v", i, r)
		}
	}
	if reqs[0].Data.ExternalAddr != netip.IPv4Unspecified() || reqs[0].Data.ExternalPort != 8080 || reqs[0].Lifetime != 3600 {
		t.Errorf("MAP request: %+v", reqs[0])
	}
	// The renewal suggests what was granted, so the server keeps it.
	if reqs[1].Data.ExternalPort != 18080 || reqs[1].Data.ExternalAddr != fakeExternal || reqs[1].Lifetime != 3600 {
		t.Errorf("renewal: %+v", reqs[1])
	}
	if reqs[2].Lifetime != 0 || reqs[2].Opcode != OpMap {
		t.Errorf("delete: %+v", reqs[2])
	}
}

func TestMapNewNonceEachMapping(t *testing.T) {
	s := newFakeServer(t, nil)
	c, _ := newTestClient(t, s)
	seen := map[Nonce]bool{}
	for i := range 5 {
		m, err := c.Map(ctxT(t), MapRequest{Protocol: UDP, InternalPort: uint16(5000 + i), Lifetime: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		if seen[m.Nonce] {
			t.Fatalf("nonce %v reused for a new mapping", m.Nonce)
		}
		seen[m.Nonce] = true
	}
	// An explicit nonce is sent as given.
	n := NewNonce()
	m, err := c.Map(ctxT(t), MapRequest{Protocol: UDP, InternalPort: 6000, Lifetime: time.Minute, Nonce: n})
	if err != nil || m.Nonce != n {
		t.Fatalf("explicit nonce: %+v %v", m, err)
	}
	if r := s.requests(); r[len(r)-1].Data.Nonce != n {
		t.Error("explicit nonce not sent")
	}
}

func TestMapOptionsAndThirdParty(t *testing.T) {
	s := newFakeServer(t, nil)
	c, _ := newTestClient(t, s)
	opts := Options{ThirdParty: netip.MustParseAddr("127.0.0.9"), PreferFailure: true,
		Filters: []Filter{{Remote: netip.MustParsePrefix("198.51.100.0/24"), RemotePort: 443}}}
	m, err := c.Map(ctxT(t), MapRequest{Protocol: TCP, InternalPort: 443, Lifetime: time.Minute, Options: opts})
	if err != nil {
		t.Fatal(err)
	}
	if m.InternalAddr != opts.ThirdParty {
		t.Errorf("InternalAddr %v, want the third party", m.InternalAddr)
	}
	if _, err := c.Renew(ctxT(t), m, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctxT(t), m); err != nil {
		t.Fatal(err)
	}
	reqs := s.requests()
	for i := range 2 {
		o := reqs[i].Options
		if o.ThirdParty != opts.ThirdParty || !o.PreferFailure || len(o.Filters) != 1 || o.Filters[0] != opts.Filters[0] {
			t.Errorf("request %d options %+v", i, o)
		}
	}
	if d := reqs[2].Options; d.ThirdParty != opts.ThirdParty || d.PreferFailure || len(d.Filters) != 0 {
		t.Errorf("delete options %+v: want THIRD_PARTY only", d)
	}
}

func TestPeer(t *testing.T) {
	s := newFakeServer(t, nil)
	c, _ := newTestClient(t, s)
	remote := netip.MustParseAddrPort("198.51.100.7:3478")
	m, err := c.Peer(ctxT(t), PeerRequest{Protocol: UDP, InternalPort: 4000, Remote: remote, Lifetime: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if m.Opcode != OpPeer || m.Remote != remote || m.External != netip.AddrPortFrom(fakeExternal, 4000) {
		t.Errorf("peer mapping %+v", m)
	}
	if _, err := c.Renew(ctxT(t), m, 0); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctxT(t), m); err != nil {
		t.Fatal(err)
	}
	for i, r := range s.requests() {
		if r.Opcode != OpPeer || r.Data.RemoteAddr != remote.Addr() || r.Data.RemotePort != remote.Port() || r.Data.Nonce != m.Nonce {
			t.Errorf("request %d: %+v", i, r)
		}
	}
	if _, err := c.Peer(ctxT(t), PeerRequest{Protocol: UDP, InternalPort: 1, Lifetime: time.Minute}); !errors.Is(err, ErrInvalidRequest) {
		t.Errorf("PEER without remote: %v", err)
	}
}

// TestAddressMismatch: the client address field is the socket's local
// address; a server that sees another source answers ADDRESS_MISMATCH.
func TestAddressMismatch(t *testing.T) {
	s := newFakeServer(t, func(s *fakeServer, from netip.AddrPort, req *Request, raw []byte, perr error) [][]byte {
		if req.ClientAddr != from.Addr() {
			return [][]byte{s.marshal(s.errResponse(req, AddressMismatch, 0))}
		}
		return okHandler(s, from, req, raw, perr)
	})
	c, _ := newTestClient(t, s)
	if c.ClientAddr() != netip.MustParseAddr("127.0.0.1") {
		t.Fatalf("ClientAddr = %v", c.ClientAddr())
	}
	if _, err := c.Map(ctxT(t), MapRequest{Protocol: TCP, InternalPort: 1, Lifetime: time.Minute}); err != nil {
		t.Fatal(err)
	}
	c2, _ := newTestClient(t, s, WithClientAddr(netip.MustParseAddr("192.0.2.9")))
	_, err := c2.Map(ctxT(t), MapRequest{Protocol: TCP, InternalPort: 1, Lifetime: time.Minute})
	if !errors.Is(err, &ResultError{Code: AddressMismatch}) || !strings.Contains(err.Error(), "there is another NAT between you and the PCP server") {
		t.Errorf("err = %v", err)
	}
}

func TestInvalidRequests(t *testing.T) {
	s := newFakeServer(t, nil)
	c, _ := newTestClient(t, s)
	ctx := ctxT(t)
	if _, err := c.Map(ctx, MapRequest{Protocol: TCP, InternalPort: 1}); !errors.Is(err, ErrInvalidRequest) {
		t.Errorf("lifetime 0: %v", err)
	}
	if _, err := c.Map(ctx, MapRequest{Protocol: ProtocolAll, InternalPort: 1, Lifetime: time.Minute}); !errors.Is(err, ErrInvalidRequest) {
		t.Errorf("protocol all with port: %v", err)
	}
	if _, err := c.Renew(ctx, &Mapping{Protocol: TCP}, 0); !errors.Is(err, ErrInvalidRequest) {
		t.Errorf("renew without lifetime: %v", err)
	}
	if _, err := NewClient(netip.AddrPort{}); !errors.Is(err, ErrInvalidRequest) {
		t.Errorf("NewClient without server: %v", err)
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Announce(cancelled); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
	if len(s.requests()) != 0 {
		t.Errorf("%d requests sent for invalid calls", len(s.requests()))
	}
}

func TestExternalAddress(t *testing.T) {
	s := newFakeServer(t, nil)
	c, _ := newTestClient(t, s)
	a, err := c.ExternalAddress(ctxT(t))
	if err != nil || a != fakeExternal {
		t.Fatalf("ExternalAddress = %v, %v", a, err)
	}
	reqs := s.requests()
	if len(reqs) != 2 || reqs[0].Lifetime != 120 || reqs[1].Lifetime != 0 || reqs[0].Data.Nonce != reqs[1].Data.Nonce ||
		reqs[0].Data.Protocol != UDP || reqs[0].Data.InternalPort != c.LocalAddr().Port() || reqs[0].Data.ExternalAddr != netip.IPv4Unspecified() {
		t.Errorf("requests: %+v", reqs)
	}
}
