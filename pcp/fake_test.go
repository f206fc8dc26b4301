package pcp

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// fakeClock is a manual Clock for tests.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	timers  []*fakeTimer
	created chan time.Duration // every NewTimer's duration
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), created: make(chan time.Duration, 100)}
}

type fakeTimer struct {
	clk     *fakeClock
	at      time.Time
	c       chan time.Time
	stopped bool
	fired   bool
}

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeClock) NewTimer(d time.Duration) Timer {
	f.mu.Lock()
	t := &fakeTimer{clk: f, at: f.now.Add(d), c: make(chan time.Time, 1)}
	f.timers = append(f.timers, t)
	f.mu.Unlock()
	select {
	case f.created <- d:
	default:
	}
	return t
}

// Advance moves the clock and fires the timers that are due.
func (f *fakeClock) Advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
	for _, t := range f.timers {
		if !t.stopped && !t.fired && !t.at.After(f.now) {
			t.fired = true
			t.c <- f.now
		}
	}
}

// waitTimer waits until the code under test creates a timer and returns its
// duration.
func (f *fakeClock) waitTimer(t *testing.T) time.Duration {
	t.Helper()
	select {
	case d := <-f.created:
		return d
	case <-time.After(5 * time.Second):
		t.Fatal("no timer created within 5 s")
		return 0
	}
}

func (t *fakeTimer) C() <-chan time.Time { return t.c }

func (t *fakeTimer) Stop() bool {
	t.clk.mu.Lock()
	defer t.clk.mu.Unlock()
	was := !t.stopped && !t.fired
	t.stopped = true
	return was
}

// fakeServer is a PCP server on 127.0.0.1 built on the package's codec.
type fakeServer struct {
	t    *testing.T
	conn *net.UDPConn
	addr netip.AddrPort

	mu      sync.Mutex
	epoch   uint32
	reqs    []*Request
	raws    [][]byte
	handler func(s *fakeServer, from netip.AddrPort, req *Request, raw []byte, perr error) [][]byte
	got     chan struct{} // a request arrived
	done    chan struct{}
}

// newFakeServer starts a server; handler nil means answer like a NAT44
// gateway with external address 203.0.113.1 (see okResponse).
func newFakeServer(t *testing.T, handler func(s *fakeServer, from netip.AddrPort, req *Request, raw []byte, perr error) [][]byte) *fakeServer {
	t.Helper()
	return newFakeServerAt(t, netip.MustParseAddr("127.0.0.1"), handler)
}

// newFakeServer6 starts a fake server on [::1] (the test is skipped if the
// host has no IPv6 loopback).
func newFakeServer6(t *testing.T, handler func(s *fakeServer, from netip.AddrPort, req *Request, raw []byte, perr error) [][]byte) *fakeServer {
	t.Helper()
	if c, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback}); err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	} else {
		c.Close()
	}
	return newFakeServerAt(t, netip.IPv6Loopback(), handler)
}

func newFakeServerAt(t *testing.T, ip netip.Addr, handler func(s *fakeServer, from netip.AddrPort, req *Request, raw []byte, perr error) [][]byte) *fakeServer {
	t.Helper()
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, 0)))
	if err != nil {
		t.Fatal(err)
	}
	s := &fakeServer{t: t, conn: conn, addr: conn.LocalAddr().(*net.UDPAddr).AddrPort(), epoch: 1000,
		handler: handler, got: make(chan struct{}, 100), done: make(chan struct{})}
	if s.handler == nil {
		s.handler = okHandler
	}
	go s.serve()
	t.Cleanup(func() {
		conn.Close()
		<-s.done
	})
	return s
}

func (s *fakeServer) serve() {
	defer close(s.done)
	buf := make([]byte, 2048)
	for {
		n, from, err := s.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		raw := append([]byte(nil), buf[:n]...)
		req, perr := ParseRequest(raw)
		s.mu.Lock()
		s.reqs = append(s.reqs, req)
		s.raws = append(s.raws, raw)
		h := s.handler
		s.mu.Unlock()
		for _, out := range h(s, from, req, raw, perr) {
			s.conn.WriteToUDPAddrPort(out, from)
		}
		select {
		case s.got <- struct{}{}:
		default:
		}
	}
}

func (s *fakeServer) setEpoch(e uint32) {
	s.mu.Lock()
	s.epoch = e
	s.mu.Unlock()
}

func (s *fakeServer) requests() []*Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*Request(nil), s.reqs...)
}

func (s *fakeServer) rawRequests() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]byte(nil), s.raws...)
}

// waitRequest waits for the next request to be handled.
func (s *fakeServer) waitRequest(t *testing.T) {
	t.Helper()
	select {
	case <-s.got:
	case <-time.After(5 * time.Second):
		t.Fatal("fake server: no request within 5 s")
	}
}

var fakeExternal = netip.MustParseAddr("203.0.113.1")

// okResponse answers req like a NAT44 gateway: SUCCESS, external address
// 203.0.113.1, the suggested external port (or the internal one), the
// requested lifetime.
func (s *fakeServer) okResponse(req *Request) *Response {
	s.mu.Lock()
	epoch := s.epoch
	s.mu.Unlock()
	resp := &Response{Opcode: req.Opcode, Result: Success, Lifetime: req.Lifetime, Epoch: epoch, Data: req.Data, Options: req.Options}
	if req.Opcode != OpAnnounce {
		resp.HasData = true
		if req.Data.ExternalAddr.Is4() {
			resp.Data.ExternalAddr = fakeExternal
		} else {
			resp.Data.ExternalAddr = req.ClientAddr
		}
		if resp.Data.ExternalPort == 0 {
			resp.Data.ExternalPort = req.Data.InternalPort
		}
	}
	return resp
}

func (s *fakeServer) errResponse(req *Request, code ResultCode, lifetime uint32) *Response {
	s.mu.Lock()
	epoch := s.epoch
	s.mu.Unlock()
	return &Response{Opcode: req.Opcode, Result: code, Lifetime: lifetime, Epoch: epoch, Data: req.Data, HasData: req.Opcode != OpAnnounce}
}

func mustMarshal(t *testing.T, r interface{ MarshalBinary() ([]byte, error) }) []byte {
	t.Helper()
	b, err := r.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// marshal encodes r in the server goroutine (t.Error, not t.Fatal).
func (s *fakeServer) marshal(r *Response) []byte {
	b, err := r.MarshalBinary()
	if err != nil {
		s.t.Error(err)
	}
	return b
}

func okHandler(s *fakeServer, from netip.AddrPort, req *Request, raw []byte, perr error) [][]byte {
	if perr != nil {
		return nil
	}
	return [][]byte{s.marshal(s.okResponse(req))}
}

// newTestClient returns a client of s with a fake clock (unless opts set
// another) and deterministic jitter (RAND = 0).
func newTestClient(t *testing.T, s *fakeServer, opts ...Option) (*Client, *fakeClock) {
	t.Helper()
	clk := newFakeClock()
	opts = append([]Option{WithClock(clk), withRand(func() float64 { return 0.5 })}, opts...)
	c, err := NewClient(s.addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, clk
}

// withRand sets the jitter source (tests only).
func withRand(f func() float64) Option { return func(cf *config) { cf.rand = f } }

// ctxT returns a context that ends with the test or after 10 s.
func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}
