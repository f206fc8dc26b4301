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

func TestRebootDetection(t *testing.T) {
	s := newFakeServer(t, nil)
	events := make(chan Event, 10)
	c, clk := newTestClient(t, s, WithEventHandler(func(e Event) { events <- e }))
	s.setEpoch(5000)
	a, err := c.Announce(ctxT(t))
	if err != nil || a.Rebooted || a.Epoch != 5000 {
		t.Fatalf("first: %+v %v", a, err)
	}
	clk.Advance(60 * time.Second)
	s.setEpoch(5060)
	if a, err = c.Announce(ctxT(t)); err != nil || a.Rebooted {
		t.Fatalf("steady: %+v %v", a, err)
	}
	clk.Advance(10 * time.Second)
	s.setEpoch(4) // restarted
	m, err := c.Map(ctxT(t), MapRequest{Protocol: UDP, InternalPort: 1, Lifetime: time.Minute})
	if err != nil || m.Epoch != 4 {
		t.Fatalf("map: %+v %v", m, err)
	}
	select {
	case e := <-events:
		if e.Kind != EventReboot || e.Epoch != 4 || !e.FromServer || e.Server != s.addr || e.Response == nil {
			t.Errorf("event %+v", e)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no reboot event")
	}
	clk.Advance(10 * time.Second)
	s.setEpoch(14)
	if a, err = c.Announce(ctxT(t)); err != nil || a.Rebooted {
		t.Fatalf("after reboot: %+v %v", a, err)
	}
	clk.Advance(10 * time.Second)
	s.setEpoch(2)
	if a, err = c.Announce(ctxT(t)); err != nil || !a.Rebooted {
		t.Fatalf("second reboot not reported by Announce: %+v %v", a, err)
	}
	if st := c.Stats(); st.Reboots != 2 {
		t.Errorf("Reboots = %d", st.Reboots)
	}
}

// sendTo sends b from the fake server's socket to the client.
func (s *fakeServer) sendTo(t *testing.T, to netip.AddrPort, b []byte) {
	t.Helper()
	if _, err := s.conn.WriteToUDPAddrPort(b, to); err != nil {
		t.Fatal(err)
	}
}

func TestUnsolicitedUnicast(t *testing.T) {
	s := newFakeServer(t, nil)
	events := make(chan Event, 10)
	c, _ := newTestClient(t, s, WithEventHandler(func(e Event) { events <- e }))
	m, err := c.Map(ctxT(t), MapRequest{Protocol: UDP, InternalPort: 2000, Lifetime: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	// A late duplicate of the answer (to a retransmission) is not an event.
	dup := s.okResponse(&Request{Opcode: OpMap, Lifetime: 60, Data: MapData{Nonce: m.Nonce, Protocol: UDP, InternalPort: 2000, ExternalAddr: netip.IPv4Unspecified()}})
	s.sendTo(t, c.LocalAddr(), s.marshal(dup))
	// The server moves the mapping to a new external address.
	upd := *dup
	upd.Data.ExternalAddr = netip.MustParseAddr("203.0.113.99")
	s.sendTo(t, c.LocalAddr(), s.marshal(&upd))
	s.sendTo(t, c.LocalAddr(), s.marshal(&Response{Opcode: OpAnnounce, Epoch: 1001}))
	want := []EventKind{EventMapping, EventAnnounce}
	for _, k := range want {
		select {
		case e := <-events:
			if e.Kind != k || !e.FromServer {
				t.Fatalf("event %+v, want %s", e, k)
			}
			if k == EventMapping && (e.Response.Data.Nonce != m.Nonce || e.Response.external().Addr() != upd.Data.ExternalAddr) {
				t.Errorf("mapping event %+v", e.Response)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no %s event", k)
		}
	}
	select {
	case e := <-events:
		t.Errorf("unexpected event %+v", e)
	case <-time.After(50 * time.Millisecond):
	}
	if st := c.Stats(); st.UnsolicitedMaps != 1 || st.Events != 2 {
		t.Errorf("stats %+v", st)
	}
}

// announceClient returns a client of s that hears announcements on a free
// loopback port, annAddr, and delivers its events on the channel.
func announceClient(t *testing.T, s *fakeServer) (c *Client, clk *fakeClock, annAddr netip.AddrPort, events chan Event) {
	t.Helper()
	l, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	annAddr = l.LocalAddr().(*net.UDPAddr).AddrPort()
	l.Close() // a free port for the listener
	events = make(chan Event, 10)
	c, clk = newTestClient(t, s, WithAnnounceAddrs(annAddr), WithEventHandler(func(e Event) { events <- e }))
	return c, clk, annAddr, events
}

func TestListenAnnouncements(t *testing.T) {
	s := newFakeServer(t, nil)
	c, clk, annAddr, events := announceClient(t, s)
	if _, err := c.Announce(ctxT(t)); err != nil { // epoch 1000 seen
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.ListenAnnouncements(ctx) }()

	clk.Advance(30 * time.Second)
	// Send until the listener is up (it starts asynchronously).
	ann := s.marshal(&Response{Opcode: OpAnnounce, Epoch: 0})
	var got []Event
	deadline := time.After(5 * time.Second)
	for len(got) < 2 {
		s.sendTo(t, annAddr, ann)
		select {
		case e := <-events:
			got = append(got, e)
		case <-time.After(20 * time.Millisecond):
		case <-deadline:
			t.Fatalf("events: %+v", got)
		}
	}
	if got[0].Kind != EventReboot || got[1].Kind != EventAnnounce || got[1].Epoch != 0 || !got[1].FromServer {
		t.Errorf("events %+v, want reboot then announce", got)
	}
	// NAT-PMP announcements share the port and are ignored.
	s.sendTo(t, annAddr, natpmpReply(128, 0, 12))
	cancel()
	if err := <-done; err != nil {
		t.Errorf("ListenAnnouncements = %v, want nil after cancel", err)
	}

	// Close ends a running listener with ErrClosed.
	go func() { done <- c.ListenAnnouncements(context.Background()) }()
	time.Sleep(20 * time.Millisecond)
	c.Close()
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: %v", err)
	}
}

func TestListenAnnouncementsError(t *testing.T) {
	s := newFakeServer(t, nil)
	c, _ := newTestClient(t, s, WithAnnounceAddrs(netip.MustParseAddrPort("192.0.2.1:5350")))
	if err := c.ListenAnnouncements(context.Background()); err == nil {
		t.Error("listening on an address this host does not have succeeded")
	}
}

// TestLateAnnounceAnswerNotAnEvent: the answer to a retransmitted ANNOUNCE
// that arrives after the call ended is not an unsolicited announcement.
func TestLateAnnounceAnswerNotAnEvent(t *testing.T) {
	var mu sync.Mutex
	var held []byte
	s := newFakeServer(t, func(s *fakeServer, from netip.AddrPort, req *Request, raw []byte, perr error) [][]byte {
		mu.Lock()
		defer mu.Unlock()
		if held == nil { // the first answer is "delayed": sent after the second
			held = s.marshal(s.okResponse(req))
			return nil
		}
		return [][]byte{s.marshal(s.okResponse(req)), held}
	})
	events := make(chan Event, 10)
	c, clk := newTestClient(t, s, WithEventHandler(func(e Event) { events <- e }))
	done := make(chan error, 1)
	go func() { _, err := c.Announce(ctxT(t)); done <- err }()
	clk.waitTimer(t)
	s.waitRequest(t)
	clk.Advance(3 * time.Second)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for c.Stats().Dropped == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	select {
	case e := <-events:
		t.Errorf("late answer delivered as %+v", e)
	case <-time.After(20 * time.Millisecond):
	}
	if st := c.Stats(); st.Dropped != 1 || st.Events != 0 {
		t.Errorf("stats %+v", st)
	}
}

// TestListenAnnouncementsMapping: RFC 6887 §14.2 — a server that changes a
// mapping (here, its external address) sends an unsolicited MAP response;
// one arriving on the announcement socket is delivered as an EventMapping
// naming the mapping by its nonce.
func TestListenAnnouncementsMapping(t *testing.T) {
	s := newFakeServer(t, nil)
	c, _, annAddr, events := announceClient(t, s)
	m, err := c.Map(ctxT(t), MapRequest{Protocol: TCP, InternalPort: 4000, Lifetime: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.ListenAnnouncements(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ListenAnnouncements: %v", err)
		}
	}()

	moved := netip.MustParseAddr("203.0.113.77")
	upd := s.okResponse(&Request{Opcode: OpMap, Lifetime: 60, Data: MapData{Nonce: m.Nonce, Protocol: TCP, InternalPort: 4000, ExternalAddr: netip.IPv4Unspecified()}})
	upd.Data.ExternalAddr = moved
	b := s.marshal(upd)
	// Send until the listener is up (it starts asynchronously).
	deadline := time.After(5 * time.Second)
	for {
		s.sendTo(t, annAddr, b)
		select {
		case e := <-events:
			if e.Kind != EventMapping || !e.FromServer || e.Response == nil {
				t.Fatalf("event %+v, want a mapping update from the server", e)
			}
			if e.Response.Data.Nonce != m.Nonce || e.Response.external() != netip.AddrPortFrom(moved, 4000) {
				t.Errorf("update %+v, want nonce %x moved to %v", e.Response.Data, m.Nonce, moved)
			}
			if st := c.Stats(); st.UnsolicitedMaps == 0 {
				t.Errorf("stats %+v: unsolicited MAP not counted", st)
			}
			return
		case <-time.After(20 * time.Millisecond):
		case <-deadline:
			t.Fatalf("no mapping event; stats %+v", c.Stats())
		}
	}
}

// TestLinkLocalAnnouncementChecksServer: miniupnpd 2.3.1 multicasts its
// ANNOUNCE to [ff02::1]:5350 from its link-local address, not from the
// address the client talks to. Such a message, heard on the interface
// toward the server, makes the client ask its server; the server's answer
// reveals the restart as an EventReboot from the server itself. Link-local
// senders on other interfaces, and other addresses, cause no check.
func TestLinkLocalAnnouncementChecksServer(t *testing.T) {
	s := newFakeServer6(t, nil)
	events := make(chan Event, 10)
	c, clk := newTestClient(t, s, WithEventHandler(func(e Event) { events <- e }))
	ifi, err := c.multicastInterface()
	if err != nil || ifi == nil {
		t.Skipf("no interface holds %v: %v", c.LocalAddr(), err)
	}
	if _, err := c.Announce(ctxT(t)); err != nil { // epoch 1000 seen
		t.Fatal(err)
	}
	clk.Advance(60 * time.Second)
	s.setEpoch(3) // the server restarted
	ann := s.marshal(&Response{Opcode: OpAnnounce, Epoch: 3})

	next := func() Event {
		t.Helper()
		select {
		case e := <-events:
			return e
		case <-time.After(5 * time.Second):
			t.Fatalf("no event; stats %+v", c.Stats())
			return Event{}
		}
	}
	// Not the server's link, or not link-local: an announcement of some
	// other server, and no check.
	for _, src := range []string{"[fe80::2%nosuchif0]:5351", "[fd00::9]:5351"} {
		c.receiveAnnouncement(ann, netip.MustParseAddrPort(src), clk.Now())
		if e := next(); e.Kind != EventAnnounce || e.FromServer {
			t.Errorf("from %s: event %+v, want an announcement not from the server", src, e)
		}
	}
	if st := c.Stats(); st.ServerChecks != 0 || st.Reboots != 0 {
		t.Fatalf("stats %+v, want no server check", st)
	}

	ll := netip.AddrPortFrom(netip.MustParseAddr("fe80::1").WithZone(ifi.Name), 5351)
	c.receiveAnnouncement(ann, ll, clk.Now())
	if e := next(); e.Kind != EventAnnounce || e.FromServer || e.Server.Addr().WithZone("") != ll.Addr().WithZone("") {
		t.Errorf("event %+v, want the link-local announcement itself", e)
	}
	e := next()
	if e.Kind != EventReboot || !e.FromServer || e.Server != s.addr || e.Epoch != 3 {
		t.Errorf("event %+v, want a reboot of the server %v", e, s.addr)
	}
	if st := c.Stats(); st.ServerChecks != 1 || st.Reboots != 1 {
		t.Errorf("stats %+v, want one check revealing one reboot", st)
	}
}
