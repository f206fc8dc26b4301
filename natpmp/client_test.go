package natpmp

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"
)

var testGW = netip.MustParseAddrPort("127.0.0.1:5351") // with fakeConn: never used on the wire

// newFakeClient returns a client on a fake socket and clock.
func newFakeClient(t *testing.T, opts ...Option) (*Client, *fakeConn, *fakeClock) {
	t.Helper()
	fc, clk := newFakeConn(), newFakeClock()
	c, err := NewClient(testGW, append([]Option{withConn(fc), withClock(clk)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, fc, clk
}

func TestRetransmitSchedule(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name string
		opts []Option
		want []time.Duration
	}{
		{"RFC 6886 default", nil, []time.Duration{250 * ms, 500 * ms, time.Second, 2 * time.Second, 4 * time.Second,
			8 * time.Second, 16 * time.Second, 32 * time.Second, 64 * time.Second}},
		{"short initial timeout, 4 tries", []Option{WithInitialTimeout(10 * ms), WithMaxAttempts(4)},
			[]time.Duration{10 * ms, 20 * ms, 40 * ms, 80 * ms}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, fc, clk := newFakeClient(t, tt.opts...)
			errc := make(chan error, 1)
			go func() {
				_, err := c.Map(context.Background(), TCP, 8080, 8080, time.Hour)
				errc <- err
			}()
			var got []time.Duration
			var total time.Duration
			for range tt.want {
				req := fc.nextWrite(t)
				if req.Op != OpMapTCP || req.InternalPort != 8080 {
					t.Fatalf("sent %+v", req)
				}
				d := <-clk.created
				got = append(got, d)
				total += d
				clk.Advance(d)
			}
			err := <-errc
			if !errors.Is(err, ErrTimeout) {
				t.Fatalf("error %v, want ErrTimeout", err)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("waits %v, want %v", got, tt.want)
			}
			select {
			case b := <-fc.writes:
				t.Fatalf("extra try sent: % x", b)
			default:
			}
			t.Logf("%d tries over %v", len(got), total)
		})
	}
}

func TestRetransmitThenReply(t *testing.T) {
	c, fc, clk := newFakeClient(t)
	type result struct {
		ea  ExternalAddress
		err error
	}
	res := make(chan result, 1)
	go func() {
		ea, err := c.ExternalAddress(context.Background())
		res <- result{ea, err}
	}()
	for range 2 { // two tries lost
		fc.nextWrite(t)
		clk.Advance(<-clk.created)
	}
	fc.nextWrite(t)
	<-clk.created
	fc.reply(t, testGW, Response{Op: 128, Epoch: 42, ExternalAddr: netip.MustParseAddr("198.51.100.9")})
	r := <-res
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.ea.Addr != netip.MustParseAddr("198.51.100.9") || r.ea.Epoch != 42 {
		t.Fatalf("got %+v", r.ea)
	}
	if len(fc.writes) != 0 {
		t.Fatal("sent again after the reply")
	}
}

func TestContextEndsRetries(t *testing.T) {
	t.Run("canceled", func(t *testing.T) {
		c, fc, clk := newFakeClient(t)
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() {
			_, err := c.ExternalAddress(ctx)
			errc <- err
		}()
		fc.nextWrite(t)
		clk.Advance(<-clk.created)
		fc.nextWrite(t)
		<-clk.created
		cancel()
		err := <-errc
		if !errors.Is(err, context.Canceled) || errors.Is(err, ErrTimeout) {
			t.Fatalf("error %v, want context.Canceled only", err)
		}
	})
	t.Run("deadline", func(t *testing.T) {
		c, fc, _ := newFakeClient(t)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		_, err := c.ExternalAddress(ctx) // the fake clock never fires
		if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrTimeout) {
			t.Fatalf("error %v, want ErrTimeout and DeadlineExceeded", err)
		}
		if len(fc.writes) != 1 {
			t.Fatalf("%d tries, want 1", len(fc.writes))
		}
	})
	t.Run("deadline while queued", func(t *testing.T) {
		c, fc, _ := newFakeClient(t)
		go c.ExternalAddress(t.Context()) // holds the queue: never answered
		fc.nextWrite(t)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		_, err := c.Map(ctx, UDP, 1, 1, time.Minute)
		if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrTimeout) {
			t.Fatalf("error %v, want ErrTimeout and DeadlineExceeded", err)
		}
		if len(fc.writes) != 0 {
			t.Fatal("queued request was sent while another was outstanding")
		}
	})
}

func TestPortUnreachable(t *testing.T) {
	t.Run("fake ICMP", func(t *testing.T) {
		c, fc, _ := newFakeClient(t)
		errc := make(chan error, 1)
		go func() {
			_, err := c.Map(context.Background(), UDP, 5000, 0, time.Minute)
			errc <- err
		}()
		fc.nextWrite(t)
		fc.in <- fakeRead{err: &net.OpError{Op: "read", Net: "udp", Err: errPortUnreachable}}
		if err := <-errc; !errors.Is(err, ErrNotSupported) {
			t.Fatalf("error %v, want ErrNotSupported", err)
		}
		if len(fc.writes) != 0 {
			t.Fatal("retried after port unreachable")
		}
	})
	t.Run("loopback closed port", func(t *testing.T) {
		// A port on 127.0.0.1 nobody listens on: the kernel answers ICMP
		// port unreachable.
		pc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		gw := pc.LocalAddr().(*net.UDPAddr).AddrPort()
		pc.Close()
		clk := newFakeClock() // never advanced: only the ICMP error can end the call
		c, err := NewClient(gw, withClock(clk))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		start := time.Now()
		_, err = c.ExternalAddress(ctx)
		if !errors.Is(err, ErrNotSupported) {
			t.Fatalf("error %v, want ErrNotSupported", err)
		}
		t.Logf("port unreachable noticed in %v", time.Since(start))
	})
}

func TestSourceFiltering(t *testing.T) {
	good := Response{Op: 130, Epoch: 7, InternalPort: 8080, ExternalPort: 18080, Lifetime: 3600}
	other := good
	other.ExternalPort = 666
	tests := []struct {
		name string
		from netip.AddrPort
		resp Response
	}{
		{"other address", netip.MustParseAddrPort("127.0.0.2:5351"), other},
		{"other port", netip.MustParseAddrPort("127.0.0.1:5350"), other},
		{"IPv6 loopback", netip.MustParseAddrPort("[::1]:5351"), other},
		{"other opcode", testGW, Response{Op: 129, Epoch: 7, InternalPort: 8080, ExternalPort: 666, Lifetime: 3600}},
		{"other internal port", testGW, Response{Op: 130, Epoch: 7, InternalPort: 8081, ExternalPort: 666, Lifetime: 3600}},
		{"external address reply", testGW, Response{Op: 128, Epoch: 7, ExternalAddr: netip.MustParseAddr("192.0.2.1")}},
	}
	c, fc, _ := newFakeClient(t)
	res := make(chan Mapping, 1)
	go func() {
		m, err := c.Map(context.Background(), TCP, 8080, 18080, time.Hour)
		if err != nil {
			t.Error(err)
		}
		res <- m
	}()
	fc.nextWrite(t)
	for _, tt := range tests {
		fc.reply(t, tt.from, tt.resp)
	}
	fc.in <- fakeRead{b: []byte{0, 130, 0, 0, 0, 0, 0, 7, 0x1f, 0x90, 0, 1}, from: testGW} // truncated
	// IPv4-mapped form of the gateway's address is the gateway.
	fc.reply(t, netip.AddrPortFrom(netip.AddrFrom16(testGW.Addr().As16()), testGW.Port()), good)
	m := <-res
	if m.ExternalPort != 18080 || m.Lifetime != time.Hour || m.Epoch != 7 || m.Protocol != TCP || m.InternalPort != 8080 {
		t.Fatalf("accepted %+v", m)
	}
}

func TestMapRenewDelete(t *testing.T) {
	// The gateway grants 40000+ instead of the suggested port.
	var mu sync.Mutex
	next := uint16(40000)
	byInternal := map[uint16]uint16{}
	g := newFakeGateway(t, func(req Request, raw []byte) [][]byte {
		mu.Lock()
		defer mu.Unlock()
		r := Response{Op: req.Op | OpReply, Epoch: 50, InternalPort: req.InternalPort}
		if req.Lifetime > 0 {
			ext, ok := byInternal[req.InternalPort]
			if !ok || req.SuggestedExternalPort != ext {
				ext = next
				next++
			}
			byInternal[req.InternalPort] = ext
			r.ExternalPort, r.Lifetime = ext, min(req.Lifetime, 3600)
		}
		return [][]byte{mustMarshal(t, r)}
	})
	g.start()
	c, err := NewClient(g.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()

	m, err := c.Map(ctx, UDP, 5000, 5000, 1500*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if m.ExternalPort != 40000 || m.Lifetime != 2*time.Second || m.Protocol != UDP {
		t.Fatalf("first mapping %+v", m)
	}
	// Renewing with the original suggestion suggests the granted port.
	if m, err = c.Map(ctx, UDP, 5000, 5000, 2*time.Hour); err != nil || m.ExternalPort != 40000 || m.Lifetime != time.Hour {
		t.Fatalf("renewal %+v, %v", m, err)
	}
	if m, err = c.Renew(ctx, m, time.Hour); err != nil || m.ExternalPort != 40000 {
		t.Fatalf("Renew %+v, %v", m, err)
	}
	if err := c.Delete(ctx, UDP, 5000); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteAll(ctx, TCP); err != nil {
		t.Fatal(err)
	}
	want := []Request{
		{Op: OpMapUDP, InternalPort: 5000, SuggestedExternalPort: 5000, Lifetime: 2},
		{Op: OpMapUDP, InternalPort: 5000, SuggestedExternalPort: 40000, Lifetime: 7200},
		{Op: OpMapUDP, InternalPort: 5000, SuggestedExternalPort: 40000, Lifetime: 3600},
		{Op: OpMapUDP, InternalPort: 5000},
		{Op: OpMapTCP},
	}
	if got := g.seen(); !slices.Equal(got, want) {
		t.Fatalf("requests\n%+v\nwant\n%+v", got, want)
	}
	// After Delete the granted port is forgotten.
	if _, err := c.Map(ctx, UDP, 5000, 5000, time.Hour); err != nil {
		t.Fatal(err)
	}
	if got := g.seen(); got[len(got)-1].SuggestedExternalPort != 5000 {
		t.Fatalf("after delete suggested %d, want 5000", got[len(got)-1].SuggestedExternalPort)
	}
}

func TestArgumentErrors(t *testing.T) {
	c, fc, _ := newFakeClient(t)
	ctx := context.Background()
	for name, err := range map[string]error{
		"bad protocol":      func() error { _, err := c.Map(ctx, 6, 1, 1, time.Hour); return err }(),
		"internal port 0":   func() error { _, err := c.Map(ctx, TCP, 0, 1, time.Hour); return err }(),
		"zero lifetime":     func() error { _, err := c.Map(ctx, TCP, 1, 1, 0); return err }(),
		"negative lifetime": func() error { _, err := c.Map(ctx, TCP, 1, 1, -time.Second); return err }(),
		"delete port 0":     c.Delete(ctx, UDP, 0),
		"delete bad proto":  c.Delete(ctx, 0, 1),
		"delete all bad":    c.DeleteAll(ctx, 3),
	} {
		if err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if len(fc.writes) != 0 {
		t.Fatal("invalid calls sent packets")
	}
	if _, err := NewClient(netip.AddrPort{}); err == nil {
		t.Error("NewClient accepted an invalid address")
	}
	if _, err := NewClient(testGW, WithMaxAttempts(0)); err == nil {
		t.Error("NewClient accepted 0 attempts")
	}
	if _, err := NewClient(testGW, WithInitialTimeout(0)); err == nil {
		t.Error("NewClient accepted a zero timeout")
	}
	if got, _ := lifetimeSeconds(1 << 62); got != 1<<32-1 {
		t.Errorf("huge lifetime = %d", got)
	}
}

func TestResultErrors(t *testing.T) {
	tests := []struct {
		name  string
		reply func(Request) Response
		code  ResultCode
	}{
		{"not authorized", func(r Request) Response {
			return Response{Op: r.Op | OpReply, Result: ResultNotAuthorized, Epoch: 3, InternalPort: r.InternalPort}
		}, ResultNotAuthorized},
		{"short out of resources", func(r Request) Response {
			return Response{Op: r.Op | OpReply, Result: ResultOutOfResources, Epoch: 3, Short: true}
		}, ResultOutOfResources},
		{"unsupported version with op 0", func(Request) Response {
			return Response{Op: 0, Result: ResultUnsupportedVersion, Epoch: 3, Short: true}
		}, ResultUnsupportedVersion},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newFakeGateway(t, func(req Request, raw []byte) [][]byte { return [][]byte{mustMarshal(t, tt.reply(req))} })
			g.start()
			c, err := NewClient(g.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_, err = c.Map(context.Background(), TCP, 8080, 8080, time.Hour)
			var re *ResultError
			if !errors.As(err, &re) || re.Code != tt.code || re.Op != OpMapTCP || re.Epoch != 3 {
				t.Fatalf("error %v (%+v), want code %v", err, re, tt.code)
			}
		})
	}
}

func TestRebootEvent(t *testing.T) {
	var mu sync.Mutex
	epoch := uint32(10000)
	g := newFakeGateway(t, simpleGateway(t, func() uint32 { mu.Lock(); defer mu.Unlock(); return epoch }))
	g.start()
	c, err := NewClient(g.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	if _, err := c.Map(ctx, TCP, 8080, 8080, time.Hour); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-c.Events():
		t.Fatalf("event before any reboot: %+v", ev)
	default:
	}
	mu.Lock()
	epoch = 5 // the gateway rebooted
	mu.Unlock()
	m, err := c.Map(ctx, TCP, 8080, 8080, time.Hour)
	if err != nil || m.Epoch != 5 {
		t.Fatalf("%+v, %v", m, err)
	}
	select {
	case ev := <-c.Events():
		if !ev.Reboot || ev.Epoch != 5 || ev.Gateway != g.addr.Addr() || ev.Announced {
			t.Fatalf("event %+v", ev)
		}
	default:
		t.Fatal("no reboot event")
	}
}

// nextEvent returns the client's next event, failing after 5 s.
func nextEvent(t *testing.T, c *Client) Event {
	t.Helper()
	select {
	case ev := <-c.Events():
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("no event")
	}
	return Event{}
}

// RFC 6886 §3.6: the epoch of every well-formed packet from the gateway is
// checked, not only that of the reply a request waits for.
func TestEpochOfUnmatchedReply(t *testing.T) {
	late := Response{Op: 130, Epoch: 5, InternalPort: 9999, ExternalPort: 9999, Lifetime: 60}
	tests := []struct {
		name    string
		waiting bool // a request is outstanding (and not answered by the reply)
	}{
		{"no request outstanding", false},
		{"another request outstanding", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, fc, _ := newFakeClient(t)
			errc := make(chan error, 1)
			go func() {
				_, err := c.ExternalAddress(t.Context())
				errc <- err
			}()
			fc.nextWrite(t)
			fc.reply(t, testGW, Response{Op: 128, Epoch: 10000, ExternalAddr: netip.MustParseAddr("198.51.100.1")})
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
			if tt.waiting {
				go c.Map(t.Context(), TCP, 8080, 0, time.Hour) // never answered
				fc.nextWrite(t)
			}
			// The gateway rebooted; its reply to some request of before
			// (not the outstanding one) is the first to tell.
			fc.reply(t, testGW, late)
			ev := nextEvent(t, c)
			if !ev.Reboot || ev.Epoch != 5 || ev.Announced || ev.AddressChanged {
				t.Fatalf("event %+v, want a reboot at epoch 5", ev)
			}
		})
	}
}

func TestExternalAddressChangeEvent(t *testing.T) {
	c, fc, clk := newFakeClient(t)
	ask := func(addr string, epoch uint32) {
		t.Helper()
		res := make(chan error, 1)
		go func() {
			ea, err := c.ExternalAddress(context.Background())
			if err == nil && ea.Addr.String() != addr {
				t.Errorf("address %v, want %v", ea.Addr, addr)
			}
			res <- err
		}()
		fc.nextWrite(t)
		<-clk.created
		fc.reply(t, testGW, Response{Op: 128, Epoch: epoch, ExternalAddr: netip.MustParseAddr(addr)})
		if err := <-res; err != nil {
			t.Fatal(err)
		}
		clk.Advance(10 * time.Second)
	}
	ask("198.51.100.1", 100)
	ask("198.51.100.1", 110)
	if len(c.Events()) != 0 {
		t.Fatal("event without change")
	}
	ask("198.51.100.2", 120)
	ask("198.51.100.3", 1) // also a reboot: merged with the unread event
	ev := <-c.Events()
	if !ev.AddressChanged || !ev.Reboot || ev.ExternalAddr != netip.MustParseAddr("198.51.100.3") || ev.Epoch != 1 {
		t.Fatalf("event %+v", ev)
	}
}

func TestClose(t *testing.T) {
	before := runtime.NumGoroutine()
	c, fc, _ := newFakeClient(t)
	errc := make(chan error, 2)
	go func() { _, err := c.ExternalAddress(context.Background()); errc <- err }()
	fc.nextWrite(t)
	go func() { _, err := c.Map(context.Background(), TCP, 1, 1, time.Hour); errc <- err }() // queued
	waitFor(t, "queued call", func() bool { return c.queue.queued() == 1 })
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := <-errc; !errors.Is(err, ErrClosed) {
			t.Fatalf("in-flight call: %v, want ErrClosed", err)
		}
	}
	if _, err := c.ExternalAddress(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("call after Close: %v", err)
	}
	if err := c.ListenAnnouncements(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("ListenAnnouncements after Close: %v", err)
	}
	if _, ok := <-c.Events(); ok {
		t.Fatal("Events not closed")
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	waitFor(t, "goroutines to end", func() bool { return runtime.NumGoroutine() <= before })
}
