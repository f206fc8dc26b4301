package pcp

import (
	"errors"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// TestWrongSourceDropped: RFC 6887 §8.3 accepts responses only from the
// server's address and port. A forged answer that matches the waiting call
// in every field but comes from another address, or from the server's
// address but another port, is dropped; the call gets the server's own
// answer. (The client's socket is connected, so the kernel filters such
// packets first; the forged ones are handed to receive directly.)
func TestWrongSourceDropped(t *testing.T) {
	reqs := make(chan *Request, 1)
	release := make(chan struct{}, 1)
	s := newFakeServer(t, func(s *fakeServer, from netip.AddrPort, req *Request, raw []byte, perr error) [][]byte {
		reqs <- req
		<-release // the test forges its answers first
		return [][]byte{s.marshal(s.okResponse(req))}
	})
	t.Cleanup(func() {
		select {
		case release <- struct{}{}:
		default:
		}
	})
	c, clk := newTestClient(t, s)
	type result struct {
		m   *Mapping
		err error
	}
	done := make(chan result, 1)
	go func() {
		m, err := c.Map(ctxT(t), MapRequest{Protocol: UDP, InternalPort: 7000, Lifetime: time.Minute})
		done <- result{m, err}
	}()
	var req *Request
	select {
	case req = <-reqs:
	case <-time.After(5 * time.Second):
		t.Fatal("no request")
	}
	forged := s.okResponse(req)
	forged.Data.ExternalPort = 9999
	b := mustMarshal(t, forged)
	for _, src := range []netip.AddrPort{
		netip.AddrPortFrom(netip.MustParseAddr("127.0.0.2"), s.addr.Port()), // another address, right port
		netip.AddrPortFrom(s.addr.Addr(), s.addr.Port()+1),                  // right address, another port
		netip.AddrPortFrom(s.addr.Addr(), ClientPort),                       // right address, the announcement port
	} {
		c.receive(b, src, clk.Now())
	}
	if st := c.Stats(); st.Dropped != 3 || st.Responses != 0 {
		t.Errorf("after 3 forged answers: %+v, want 3 dropped and no response", st)
	}
	release <- struct{}{}
	var r result
	select {
	case r = <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the call got no answer")
	}
	if r.err != nil || r.m.External.Port() != 7000 {
		t.Fatalf("Map = %+v, %v; want the server's answer (port 7000), not the forged one (9999)", r.m, r.err)
	}
	if st := c.Stats(); st.Responses != 1 {
		t.Errorf("Responses = %d, want 1", st.Responses)
	}
}

// TestHeaderOnlyErrorToAllCalls: an error response without opcode data
// (the server could not parse the request, so it echoed no nonce) cannot
// say which request it answers; it is delivered to every waiting call of
// its opcode, and a NAT-PMP server's "unsupported version" reply to every
// waiting call. Calls of another opcode are not touched by the former.
func TestHeaderOnlyErrorToAllCalls(t *testing.T) {
	tests := []struct {
		name string
		// reply is the one reply sent for all three requests (two MAP,
		// one PEER); the PEER is answered normally unless peerFails.
		reply     func(s *fakeServer) []byte
		check     func(error) bool
		peerFails bool
	}{
		{"MALFORMED_REQUEST header only", func(s *fakeServer) []byte {
			b := s.marshal(&Response{Opcode: OpMap, Result: MalformedRequest, Epoch: 1000})
			if len(b) != HeaderLen {
				s.t.Errorf("reply of %d bytes, want %d", len(b), HeaderLen)
			}
			return b
		}, func(err error) bool { return errors.Is(err, &ResultError{Code: MalformedRequest}) }, false},
		{"NAT-PMP unsupported version", func(*fakeServer) []byte { return natpmpReply(0, 1, 8) },
			func(err error) bool {
				var ve *VersionError
				return errors.As(err, &ve) && ve.ServerVersion == 0
			}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newHoldingServer(t, 3, func(s *fakeServer, held []*Request) [][]byte {
				out := [][]byte{tt.reply(s)}
				if !tt.peerFails {
					for _, r := range held {
						if r.Opcode == OpPeer {
							out = append(out, s.marshal(s.okResponse(r)))
						}
					}
				}
				return out
			})
			c, _ := newTestClient(t, s)
			errs := make([]error, 3)
			var wg sync.WaitGroup
			for i := range 2 {
				wg.Go(func() {
					_, errs[i] = c.Map(ctxT(t), MapRequest{Protocol: UDP, InternalPort: uint16(9100 + i), Lifetime: time.Minute})
				})
			}
			wg.Go(func() {
				_, errs[2] = c.Peer(ctxT(t), PeerRequest{Protocol: UDP, InternalPort: 9102, Remote: netip.MustParseAddrPort("198.51.100.7:9"), Lifetime: time.Minute})
			})
			finished := make(chan struct{})
			go func() { wg.Wait(); close(finished) }()
			select {
			case <-finished:
			case <-time.After(5 * time.Second):
				// The fake clock never fires: a call the reply missed
				// waits until its 10 s context ends.
				t.Fatal("a call was not answered by the shared reply")
			}
			for i := range 2 {
				if !tt.check(errs[i]) {
					t.Errorf("MAP %d: %v", i, errs[i])
				}
			}
			if tt.peerFails != tt.check(errs[2]) || (!tt.peerFails && errs[2] != nil) {
				t.Errorf("PEER: %v", errs[2])
			}
		})
	}
}
