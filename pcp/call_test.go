package pcp

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"testing"
	"time"
)

// TestMatching: responses that do not match the request's nonce, protocol,
// internal port (or remote peer) are ignored; so are malformed packets.
func TestMatching(t *testing.T) {
	s := newFakeServer(t, func(s *fakeServer, from netip.AddrPort, req *Request, raw []byte, perr error) [][]byte {
		var out [][]byte
		bad := func(f func(r *Response)) {
			r := s.okResponse(req)
			r.Data.ExternalPort = 1 // marks a wrong answer
			f(r)
			out = append(out, s.marshal(r))
		}
		bad(func(r *Response) { r.Data.Nonce[0] ^= 1 })
		bad(func(r *Response) { r.Data.Protocol = TCP })
		bad(func(r *Response) { r.Data.InternalPort++ })
		bad(func(r *Response) { r.Opcode = OpAnnounce; r.HasData = false })
		if req.Opcode == OpPeer {
			bad(func(r *Response) { r.Data.RemotePort++ })
			bad(func(r *Response) { r.Data.RemoteAddr = netip.MustParseAddr("198.51.100.8") })
		}
		out = append(out, []byte("garbage that is not PCP"), raw) // raw: R bit clear
		return append(out, s.marshal(s.okResponse(req)))
	})
	c, _ := newTestClient(t, s)
	m, err := c.Map(ctxT(t), MapRequest{Protocol: UDP, InternalPort: 7000, Lifetime: time.Minute})
	if err != nil || m.External.Port() != 7000 {
		t.Fatalf("MAP matched a wrong response: %+v %v", m, err)
	}
	p, err := c.Peer(ctxT(t), PeerRequest{Protocol: UDP, InternalPort: 7001, Remote: netip.MustParseAddrPort("198.51.100.7:9"), Lifetime: time.Minute})
	if err != nil || p.External.Port() != 7001 {
		t.Fatalf("PEER matched a wrong response: %+v %v", p, err)
	}
	if st := c.Stats(); st.Dropped < 4 {
		t.Errorf("Dropped = %d, want the malformed packets counted", st.Dropped)
	}
}

// newHoldingServer returns a fake server that answers nothing until it
// has n requests, and then sends what answer returns for them.
func newHoldingServer(t *testing.T, n int, answer func(s *fakeServer, held []*Request) [][]byte) *fakeServer {
	var mu sync.Mutex
	var held []*Request
	return newFakeServer(t, func(s *fakeServer, from netip.AddrPort, req *Request, raw []byte, perr error) [][]byte {
		mu.Lock()
		defer mu.Unlock()
		held = append(held, req)
		if len(held) < n {
			return nil
		}
		return answer(s, held)
	})
}

// TestConcurrentCalls: answers in reverse order reach the right callers.
func TestConcurrentCalls(t *testing.T) {
	s := newHoldingServer(t, 3, func(s *fakeServer, held []*Request) [][]byte {
		var out [][]byte
		for i := len(held) - 1; i >= 0; i-- {
			out = append(out, s.marshal(s.okResponse(held[i])))
		}
		return out
	})
	c, _ := newTestClient(t, s)
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m, err := c.Map(ctxT(t), MapRequest{Protocol: UDP, InternalPort: uint16(9000 + i), Lifetime: time.Minute})
			if err == nil && m.External.Port() != uint16(9000+i) {
				err = errors.New("wrong answer")
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("call %d: %v", i, err)
		}
	}
}

// TestRetransmissionSchedule drives the retransmission timer with the fake
// clock: the server ignores the first three requests.
func TestRetransmissionSchedule(t *testing.T) {
	var mu sync.Mutex
	n := 0
	s := newFakeServer(t, func(s *fakeServer, from netip.AddrPort, req *Request, raw []byte, perr error) [][]byte {
		mu.Lock()
		defer mu.Unlock()
		n++
		if n <= 3 {
			return nil
		}
		return okHandler(s, from, req, raw, perr)
	})
	c, clk := newTestClient(t, s)
	done := make(chan error, 1)
	go func() {
		_, err := c.Map(ctxT(t), MapRequest{Protocol: UDP, InternalPort: 1234, Lifetime: time.Minute})
		done <- err
	}()
	for _, want := range []time.Duration{3 * time.Second, 6 * time.Second, 12 * time.Second} {
		if d := clk.waitTimer(t); d != want {
			t.Fatalf("timer %v, want %v", d, want)
		}
		s.waitRequest(t)
		select {
		case err := <-done:
			t.Fatalf("call ended before the timer fired: %v", err)
		default:
		}
		clk.Advance(want)
	}
	clk.waitTimer(t) // the 4th wait, 24 s, is cut short by the answer
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	raws := s.rawRequests()
	if len(raws) != 4 {
		t.Fatalf("%d transmissions, want 4", len(raws))
	}
	for i := 1; i < 4; i++ {
		if string(raws[i]) != string(raws[0]) {
			t.Errorf("retransmission %d differs from the original (same nonce and bytes required)", i)
		}
	}
	if st := c.Stats(); st.Transmissions != 4 || st.Requests != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestFirstTimeout(t *testing.T) {
	s := newFakeServer(t, func(*fakeServer, netip.AddrPort, *Request, []byte, error) [][]byte { return nil })
	c, clk := newTestClient(t, s, WithFirstTimeout(250*time.Millisecond))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := c.Announce(ctx)
		done <- err
	}()
	if d := clk.waitTimer(t); d != 250*time.Millisecond {
		t.Fatalf("first timeout %v, want 250ms", d)
	}
	clk.Advance(250 * time.Millisecond)
	if d := clk.waitTimer(t); d != 3*time.Second {
		t.Fatalf("second timeout %v, want IRT 3s", d)
	}
	cancel()
	err := <-done
	if !errors.Is(err, ErrNoResponse) || !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want ErrNoResponse wrapping context.Canceled", err)
	}
}

func TestRetransmitLimits(t *testing.T) {
	silent := func(*fakeServer, netip.AddrPort, *Request, []byte, error) [][]byte { return nil }
	t.Run("MRC", func(t *testing.T) {
		s := newFakeServer(t, silent)
		c, clk := newTestClient(t, s, WithRetransmit(Retransmit{IRT: time.Second, MRC: 2}))
		done := make(chan error, 1)
		go func() { _, err := c.Announce(ctxT(t)); done <- err }()
		clk.waitTimer(t)
		clk.Advance(time.Second)
		clk.waitTimer(t)
		clk.Advance(2 * time.Second)
		if err := <-done; !errors.Is(err, ErrNoResponse) {
			t.Errorf("err = %v, want ErrNoResponse", err)
		}
		if st := c.Stats(); st.Transmissions != 2 {
			t.Errorf("%d transmissions, want 2", st.Transmissions)
		}
	})
	t.Run("MRD", func(t *testing.T) {
		s := newFakeServer(t, silent)
		c, clk := newTestClient(t, s, WithRetransmit(Retransmit{IRT: time.Second, MRD: 2500 * time.Millisecond}))
		done := make(chan error, 1)
		go func() { _, err := c.Announce(ctxT(t)); done <- err }()
		clk.waitTimer(t)
		clk.Advance(time.Second)
		if d := clk.waitTimer(t); d != 1500*time.Millisecond {
			t.Errorf("second wait %v, want the 1.5s left of MRD", d)
		}
		clk.Advance(1500 * time.Millisecond)
		if err := <-done; !errors.Is(err, ErrNoResponse) {
			t.Errorf("err = %v, want ErrNoResponse", err)
		}
	})
	t.Run("deadline", func(t *testing.T) {
		s := newFakeServer(t, silent)
		c, err := NewClient(s.addr, WithFirstTimeout(20*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err = c.Announce(ctx)
		if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrNoResponse) {
			t.Errorf("err = %v", err)
		}
		if el := time.Since(start); el > 2*time.Second {
			t.Errorf("took %v: the context must cut retransmission short", el)
		}
		if st := c.Stats(); st.Transmissions != 2 {
			t.Errorf("%d transmissions in 100 ms with a 20 ms first timeout, want 2", st.Transmissions)
		}
	})
}

func TestVersionNegotiation(t *testing.T) {
	tests := []struct {
		name    string
		reply   func(s *fakeServer, req *Request) []byte
		version uint8
		natpmp  bool
	}{
		{"NAT-PMP server, opcode 128+op", func(s *fakeServer, req *Request) []byte { return natpmpReply(128|byte(req.Opcode), 1, 8) }, 0, true},
		{"NAT-PMP server, opcode 0", func(s *fakeServer, req *Request) []byte { return natpmpReply(0, 1, 8) }, 0, true},
		{"PCP version 1 server", func(s *fakeServer, req *Request) []byte {
			return s.marshal(&Response{Version: 1, Opcode: req.Opcode, Result: UnsuppVersion})
		}, 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newFakeServer(t, func(s *fakeServer, from netip.AddrPort, req *Request, raw []byte, perr error) [][]byte {
				if req == nil {
					return nil
				}
				return [][]byte{tt.reply(s, req)}
			})
			c, _ := newTestClient(t, s)
			for range 2 { // not cached: PCP is tried again each time
				_, err := c.Map(ctxT(t), MapRequest{Protocol: TCP, InternalPort: 80, Lifetime: time.Minute})
				var ve *VersionError
				if !errors.As(err, &ve) || !errors.Is(err, ErrUnsupportedVersion) {
					t.Fatalf("err = %v, want *VersionError", err)
				}
				if ve.ServerVersion != tt.version || ve.NATPMP != tt.natpmp || ve.Server != s.addr {
					t.Errorf("VersionError %+v", ve)
				}
			}
			if st := c.Stats(); st.Transmissions != 2 || st.HeldDown != 0 {
				t.Errorf("stats %+v: want 2 transmissions (one each, no retransmission, no hold-down)", st)
			}
			if _, err := c.Announce(ctxT(t)); !errors.Is(err, ErrUnsupportedVersion) {
				t.Errorf("Announce: %v", err)
			}
		})
	}
}

func TestHoldDown(t *testing.T) {
	var mu sync.Mutex
	code, lifetime := NoResources, uint32(30)
	s := newFakeServer(t, func(s *fakeServer, from netip.AddrPort, req *Request, raw []byte, perr error) [][]byte {
		mu.Lock()
		defer mu.Unlock()
		if code == Success {
			return okHandler(s, from, req, raw, perr)
		}
		return [][]byte{s.marshal(s.errResponse(req, code, lifetime))}
	})
	c, clk := newTestClient(t, s)
	req := MapRequest{Protocol: TCP, InternalPort: 80, Lifetime: time.Minute}
	_, err1 := c.Map(ctxT(t), req)
	var re *ResultError
	if !errors.As(err1, &re) || re.Code != NoResources || re.HoldDown != 30*time.Second || re.Lifetime != 30*time.Second {
		t.Fatalf("err = %v (%+v)", err1, re)
	}
	if !re.Until.Equal(clk.Now().Add(30 * time.Second)) {
		t.Errorf("Until = %v", re.Until)
	}
	// Same request: refused at once with the same error, nothing sent.
	_, err2 := c.Map(ctxT(t), req)
	if err2 != err1 {
		t.Errorf("held-down call returned %v, want the same error value", err2)
	}
	// NO_RESOURCES also holds down other new mappings (RFC 6887 §8.3)...
	if _, err := c.Map(ctxT(t), MapRequest{Protocol: UDP, InternalPort: 81, Lifetime: time.Minute}); err != err1 {
		t.Errorf("other new mapping: %v, want held down", err)
	}
	// ...but not ANNOUNCE or deletions.
	mu.Lock()
	code = Success
	mu.Unlock()
	if _, err := c.Announce(ctxT(t)); err != nil {
		t.Errorf("Announce during hold-down: %v", err)
	}
	if st := c.Stats(); st.Transmissions != 2 || st.HeldDown != 2 {
		t.Errorf("stats %+v", st)
	}
	clk.Advance(29 * time.Second)
	if _, err := c.Map(ctxT(t), req); err != err1 {
		t.Errorf("at 29 s: %v, want still held down", err)
	}
	clk.Advance(time.Second)
	if _, err := c.Map(ctxT(t), req); err != nil {
		t.Errorf("after 30 s: %v, want a new request", err)
	}

	// Long-lifetime error with lifetime 0 (miniupnpd): no hold-down.
	mu.Lock()
	code, lifetime = NotAuthorized, 0
	mu.Unlock()
	req2 := MapRequest{Protocol: TCP, InternalPort: 90, Lifetime: time.Minute}
	for range 2 {
		_, err := c.Map(ctxT(t), req2)
		if !errors.Is(err, &ResultError{Code: NotAuthorized}) {
			t.Fatalf("err = %v", err)
		}
	}
	// Long-lifetime error with 1800 s: held down for 30 minutes, for that
	// request only (another suggested port is another request).
	mu.Lock()
	lifetime = 1800
	mu.Unlock()
	before := c.Stats().Transmissions
	_, e1 := c.Map(ctxT(t), req2)
	_, e2 := c.Map(ctxT(t), req2)
	req3 := req2
	req3.SuggestedExternal = netip.AddrPortFrom(netip.Addr{}, 9090)
	_, e3 := c.Map(ctxT(t), req3)
	if e1 != e2 || e3 == e1 || !errors.Is(e3, &ResultError{Code: NotAuthorized}) {
		t.Errorf("long hold-down: %v / %v / %v", e1, e2, e3)
	}
	if got := c.Stats().Transmissions - before; got != 2 {
		t.Errorf("%d transmissions, want 2", got)
	}
	clk.Advance(30 * time.Minute)
	_, e4 := c.Map(ctxT(t), req2)
	if e4 == e1 || e4 == nil {
		t.Errorf("after 30 min: %v, want a new error from a new request", e4)
	}
}

func TestCloseEndsCalls(t *testing.T) {
	s := newFakeServer(t, func(*fakeServer, netip.AddrPort, *Request, []byte, error) [][]byte { return nil })
	c, clk := newTestClient(t, s)
	done := make(chan error, 1)
	go func() { _, err := c.Announce(context.Background()); done <- err }()
	clk.waitTimer(t)
	c.Close()
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Errorf("err = %v, want ErrClosed", err)
	}
	if _, err := c.Announce(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestUnreachable(t *testing.T) {
	l, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	addr := l.LocalAddr().(*net.UDPAddr).AddrPort()
	l.Close() // nothing listens there now: ICMP port unreachable
	c, err := NewClient(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	_, err = c.Announce(ctx)
	if runtime.GOOS == "linux" && !errors.Is(err, ErrUnreachable) {
		t.Errorf("err = %v, want ErrUnreachable", err)
	}
	if el := time.Since(start); el > time.Second {
		t.Errorf("took %v", el)
	}
}

func TestDefaultPortAndAccessors(t *testing.T) {
	c, err := NewClient(netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), 0))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Server() != netip.MustParseAddrPort("127.0.0.1:5351") {
		t.Errorf("Server = %v", c.Server())
	}
	if !c.LocalAddr().IsValid() || c.LocalAddr().Port() == 0 {
		t.Errorf("LocalAddr = %v", c.LocalAddr())
	}
	if got := DefaultAnnounceAddrs(); len(got) != 2 || got[0].String() != "224.0.0.1:5350" || got[1].String() != "[ff02::1]:5350" {
		t.Errorf("DefaultAnnounceAddrs = %v", got)
	}
}

// TestNoGoroutineLeak: Close ends every goroutine the client started.
func TestNoGoroutineLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	s := newFakeServer(t, nil)
	for range 5 {
		c, err := NewClient(s.addr, WithEventHandler(func(Event) {}), WithAnnounceAddrs(netip.MustParseAddrPort("127.0.0.1:0")))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- c.ListenAnnouncements(ctx) }()
		if _, err := c.Announce(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		cancel()
		<-done
		c.Close()
	}
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before+1 && time.Now().Before(deadline) { // +1: the fake server
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before+1 {
		t.Errorf("%d goroutines, %d before", n, before)
	}
}
