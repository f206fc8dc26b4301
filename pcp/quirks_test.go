package pcp

import (
	"errors"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// TestStaleAnswerNotTakenForDeletion: a late SUCCESS answer to the creation
// (lifetime > 0) must not complete the deletion that follows with the same
// nonce.
func TestStaleAnswerNotTakenForDeletion(t *testing.T) {
	var mu sync.Mutex
	var created *Request
	s := newFakeServer(t, func(s *fakeServer, from netip.AddrPort, req *Request, raw []byte, perr error) [][]byte {
		mu.Lock()
		defer mu.Unlock()
		if req.Lifetime > 0 {
			created = req
			return okHandler(s, from, req, raw, perr)
		}
		// First the stale answer to a retransmitted creation, then the
		// refusal of the deletion.
		return [][]byte{s.marshal(s.okResponse(created)), s.marshal(s.errResponse(req, NotAuthorized, 0))}
	})
	c, _ := newTestClient(t, s)
	m, err := c.Map(ctxT(t), MapRequest{Protocol: TCP, InternalPort: 5555, Lifetime: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctxT(t), m); !errors.Is(err, &ResultError{Code: NotAuthorized}) {
		t.Fatalf("Delete = %v, want the server's NOT_AUTHORIZED, not the stale success", err)
	}
}

// TestPortZeroAnswer: miniupnpd 2.3.1 answers an update of an IPv6 pinhole
// with the suggested external port, 0 when none was suggested.
func TestPortZeroAnswer(t *testing.T) {
	zeroPort := func(s *fakeServer, from netip.AddrPort, req *Request, raw []byte, perr error) [][]byte {
		r := s.okResponse(req)
		r.Data.ExternalPort = 0
		return [][]byte{s.marshal(r)}
	}
	t.Run("pinhole", func(t *testing.T) {
		s := newFakeServer6(t, zeroPort)
		c, _ := newTestClient(t, s)
		m, err := c.Map(ctxT(t), MapRequest{Protocol: UDP, InternalPort: 4444, Lifetime: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		if m.External != netip.AddrPortFrom(netip.IPv6Loopback(), 4444) || !m.isPinhole() {
			t.Errorf("pinhole external %v, want [::1]:4444", m.External)
		}
	})
	t.Run("NAT renewal", func(t *testing.T) {
		s := newFakeServer(t, zeroPort)
		c, _ := newTestClient(t, s)
		m, err := c.Map(ctxT(t), MapRequest{Protocol: UDP, InternalPort: 4444, SuggestedExternal: netip.AddrPortFrom(fakeExternal, 5555), Lifetime: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		if m.External != netip.AddrPortFrom(fakeExternal, 5555) {
			t.Errorf("external %v, want the suggested port kept", m.External)
		}
	})
}

// TestPinholeDeleteRefused: miniupnpd 2.3.1 refuses to delete a renewed
// pinhole (NOT_AUTHORIZED); the client cuts its lifetime instead.
func TestPinholeDeleteRefused(t *testing.T) {
	s := newFakeServer6(t, func(s *fakeServer, from netip.AddrPort, req *Request, raw []byte, perr error) [][]byte {
		if req.Lifetime == 0 {
			return [][]byte{s.marshal(s.errResponse(req, NotAuthorized, 0))}
		}
		r := s.okResponse(req)
		r.Lifetime = max(req.Lifetime, 120) // miniupnpd's minimum
		return [][]byte{s.marshal(r)}
	})
	c, _ := newTestClient(t, s)
	m, err := c.Map(ctxT(t), MapRequest{Protocol: TCP, InternalPort: 8443, Lifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	err = c.Delete(ctxT(t), m)
	if !errors.Is(err, ErrLifetimeCut) || !errors.Is(err, &ResultError{Code: NotAuthorized}) {
		t.Fatalf("Delete = %v, want ErrLifetimeCut wrapping NOT_AUTHORIZED", err)
	}
	reqs := s.requests()
	if len(reqs) != 3 || reqs[2].Lifetime != 1 || reqs[2].Data.Nonce != m.Nonce {
		t.Errorf("requests %+v: want create, delete, renewal for 1 s with the same nonce", reqs)
	}

	// A NAT mapping refused the same way is not touched.
	s4 := newFakeServer(t, func(s *fakeServer, from netip.AddrPort, req *Request, raw []byte, perr error) [][]byte {
		if req.Lifetime == 0 {
			return [][]byte{s.marshal(s.errResponse(req, NotAuthorized, 0))}
		}
		return okHandler(s, from, req, raw, perr)
	})
	c4, _ := newTestClient(t, s4)
	m4, err := c4.Map(ctxT(t), MapRequest{Protocol: TCP, InternalPort: 8443, Lifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := c4.Delete(ctxT(t), m4); errors.Is(err, ErrLifetimeCut) || !errors.Is(err, &ResultError{Code: NotAuthorized}) {
		t.Errorf("NAT Delete = %v", err)
	}
	if n := len(s4.requests()); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
}
