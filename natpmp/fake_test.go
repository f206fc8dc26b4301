package natpmp

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// fakeClock is a manual clock: timers fire only on Advance.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	timers  []*fakeTimer
	created chan time.Duration // receives the duration of every new timer
}

type fakeTimer struct {
	c    chan time.Time
	when time.Time
	done bool
	clk  *fakeClock
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), created: make(chan time.Duration, 100)}
}

func (k *fakeClock) Now() time.Time {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.now
}

func (k *fakeClock) NewTimer(d time.Duration) timer {
	k.mu.Lock()
	t := &fakeTimer{c: make(chan time.Time, 1), when: k.now.Add(d), clk: k}
	k.timers = append(k.timers, t)
	k.mu.Unlock()
	k.created <- d
	return t
}

// Advance moves the clock and fires the timers that are due.
func (k *fakeClock) Advance(d time.Duration) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.now = k.now.Add(d)
	for _, t := range k.timers {
		if !t.done && !t.when.After(k.now) {
			t.done = true
			t.c <- k.now
		}
	}
}

func (t *fakeTimer) C() <-chan time.Time { return t.c }

func (t *fakeTimer) Stop() bool {
	t.clk.mu.Lock()
	defer t.clk.mu.Unlock()
	was := !t.done
	t.done = true
	return was
}

// fakeConn is a socket whose traffic the test controls.
type fakeConn struct {
	in        chan fakeRead
	writes    chan []byte
	wire      *fakeWire // if set, writes go there instead of to writes
	closeOnce sync.Once
	closed    chan struct{}
}

type fakeRead struct {
	b    []byte
	from netip.AddrPort
	err  error
}

func newFakeConn() *fakeConn {
	return &fakeConn{in: make(chan fakeRead, 100), writes: make(chan []byte, 100), closed: make(chan struct{})}
}

func (f *fakeConn) ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error) {
	select {
	case r := <-f.in:
		return copy(b, r.b), r.from, r.err
	case <-f.closed:
		return 0, netip.AddrPort{}, net.ErrClosed
	}
}

func (f *fakeConn) Write(b []byte) (int, error) {
	select {
	case <-f.closed:
		return 0, net.ErrClosed
	default:
	}
	if f.wire != nil {
		f.wire.write(f, b)
		return len(b), nil
	}
	f.writes <- append([]byte(nil), b...)
	return len(b), nil
}

func (f *fakeConn) Close() error {
	f.closeOnce.Do(func() { close(f.closed) })
	return nil
}

// reply queues a packet from the given source.
func (f *fakeConn) reply(t testing.TB, from netip.AddrPort, r Response) {
	t.Helper()
	b, err := r.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	f.in <- fakeRead{b: b, from: from}
}

// nextWrite returns the next packet the client sent, failing after 5 s.
func (f *fakeConn) nextWrite(t testing.TB) Request {
	t.Helper()
	select {
	case b := <-f.writes:
		req, err := ParseRequest(b)
		if err != nil {
			t.Fatalf("client sent an invalid request % x: %v", b, err)
		}
		return req
	case <-time.After(5 * time.Second):
		t.Fatal("client sent nothing")
	}
	return Request{}
}

// fakeWire is the network between the fake sockets of several clients and
// one gateway. It records every request written, in order, and whether one
// was written while another was outstanding: the test marks a request as
// finished (answered or given up) with finish before it lets the client
// see the end of it. A retransmission (the same bytes from the same socket)
// is not a new request.
type fakeWire struct {
	sent chan wirePacket

	mu       sync.Mutex
	out      *wirePacket // the request outstanding, if any
	requests int         // requests written, not counting retransmissions
	overlaps []string
}

type wirePacket struct {
	conn  *fakeConn
	raw   []byte
	retry bool // a retransmission of the request outstanding
}

func newFakeWire() *fakeWire { return &fakeWire{sent: make(chan wirePacket, 1000)} }

// conn returns a fake socket on the wire.
func (w *fakeWire) conn() *fakeConn {
	f := newFakeConn()
	f.wire = w
	return f
}

func (w *fakeWire) write(from *fakeConn, b []byte) {
	p := wirePacket{conn: from, raw: append([]byte(nil), b...)}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.out != nil {
		p.retry = w.out.conn == from && bytes.Equal(w.out.raw, b)
		if !p.retry {
			w.overlaps = append(w.overlaps, fmt.Sprintf("request % x written while % x was outstanding", b, w.out.raw))
		}
	}
	if !p.retry {
		w.requests++
	}
	w.out = &p
	w.sent <- p
}

// finish marks the outstanding request as answered or given up.
func (w *fakeWire) finish() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.out = nil
}

// stats returns the number of requests written and the overlaps seen.
func (w *fakeWire) stats() (requests int, overlaps []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.requests, append([]string(nil), w.overlaps...)
}

// next returns the next packet written, failing after 5 s.
func (w *fakeWire) next(t testing.TB) (Request, wirePacket) {
	t.Helper()
	select {
	case p := <-w.sent:
		req, err := ParseRequest(p.raw)
		if err != nil {
			t.Fatalf("client sent an invalid request % x: %v", p.raw, err)
		}
		return req, p
	case <-time.After(5 * time.Second):
		t.Fatal("no request written")
	}
	return Request{}, wirePacket{}
}

// fakeGateway is a NAT-PMP server on 127.0.0.1 for tests.
type fakeGateway struct {
	conn *net.UDPConn
	addr netip.AddrPort
	// handle answers a request with packets to send back (nil: no answer).
	handle func(req Request, raw []byte) [][]byte

	mu       sync.Mutex
	requests []Request
	wg       sync.WaitGroup
}

func newFakeGateway(t testing.TB, handle func(req Request, raw []byte) [][]byte) *fakeGateway {
	t.Helper()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	g := &fakeGateway{conn: conn, addr: conn.LocalAddr().(*net.UDPAddr).AddrPort(), handle: handle}
	t.Cleanup(func() {
		conn.Close()
		g.wg.Wait()
	})
	return g
}

func (g *fakeGateway) start() {
	g.wg.Add(1)
	go g.serve()
}

func (g *fakeGateway) serve() {
	defer g.wg.Done()
	buf := make([]byte, 1500)
	for {
		n, from, err := g.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		raw := buf[:n]
		req, err := ParseRequest(raw)
		if err == nil {
			g.mu.Lock()
			g.requests = append(g.requests, req)
			g.mu.Unlock()
		}
		for _, out := range g.handle(req, raw) {
			g.conn.WriteToUDPAddrPort(out, from)
		}
	}
}

func (g *fakeGateway) seen() []Request {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]Request(nil), g.requests...)
}

// mustMarshal encodes a reply for a test.
func mustMarshal(t testing.TB, r Response) []byte {
	t.Helper()
	b, err := r.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// simpleGateway answers like a well-behaved gateway: external address
// 198.51.100.7, external port = suggested port or internal+1000, lifetime
// as asked, at the given epoch.
func simpleGateway(t testing.TB, epoch func() uint32) func(Request, []byte) [][]byte {
	return func(req Request, raw []byte) [][]byte {
		if _, err := ParseRequest(raw); err != nil {
			return nil
		}
		r := Response{Op: req.Op | OpReply, Epoch: epoch()}
		switch req.Op {
		case OpExternalAddress:
			r.ExternalAddr = netip.MustParseAddr("198.51.100.7")
		default:
			r.InternalPort = req.InternalPort
			r.Lifetime = req.Lifetime
			if req.Lifetime != 0 {
				r.ExternalPort = req.SuggestedExternalPort
				if r.ExternalPort == 0 {
					r.ExternalPort = req.InternalPort + 1000
				}
			}
		}
		return [][]byte{mustMarshal(t, r)}
	}
}

func constEpoch(e uint32) func() uint32 { return func() uint32 { return e } }
