package natpmp

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"testing"
	"time"
)

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func (q *fifo) queued() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.waiters)
}

func TestFIFOOrder(t *testing.T) {
	var q fifo
	ctx := context.Background()
	if err := q.lock(ctx, nil); err != nil {
		t.Fatal(err)
	}
	const n = 20
	order := make(chan int, n)
	for i := range n {
		go func() {
			if err := q.lock(ctx, nil); err != nil {
				t.Error(err)
				return
			}
			order <- i
			q.unlock()
		}()
		waitFor(t, "waiter to queue", func() bool { return q.queued() == i+1 })
	}
	q.unlock()
	for want := range n {
		if got := <-order; got != want {
			t.Fatalf("waiter %d got the lock in place %d", got, want)
		}
	}
	q.mu.Lock()
	busy := q.busy
	q.mu.Unlock()
	if busy || q.queued() != 0 {
		t.Fatal("lock still held after all unlocked")
	}
}

func TestFIFOCancel(t *testing.T) {
	var q fifo
	bg := context.Background()
	q.lock(bg, nil)

	ctx, cancel := context.WithCancel(bg)
	errc := make(chan error)
	go func() { errc <- q.lock(ctx, nil) }()
	waitFor(t, "waiter", func() bool { return q.queued() == 1 })
	stop := make(chan struct{})
	go func() { errc <- q.lock(bg, stop) }()
	waitFor(t, "second waiter", func() bool { return q.queued() == 2 })
	got := make(chan struct{})
	go func() {
		q.lock(bg, nil)
		close(got)
	}()
	waitFor(t, "third waiter", func() bool { return q.queued() == 3 })

	cancel()
	if err := <-errc; err != context.Canceled {
		t.Fatalf("canceled waiter: %v", err)
	}
	close(stop)
	if err := <-errc; err != ErrClosed {
		t.Fatalf("stopped waiter: %v", err)
	}
	if q.queued() != 1 {
		t.Fatalf("%d waiters, want 1", q.queued())
	}
	q.unlock()
	select {
	case <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("the lock was not handed to the remaining waiter")
	}
}

func TestGatewayQueueShared(t *testing.T) {
	gw := netip.MustParseAddrPort("192.0.2.1:5351") // no packet is sent
	q1, rel1 := acquireQueue(gw)
	q2, rel2 := acquireQueue(gw)
	q3, rel3 := acquireQueue(netip.MustParseAddrPort("192.0.2.2:5351"))
	if q1 != q2 || q1 == q3 {
		t.Fatal("queues are not per gateway")
	}
	rel1()
	rel1() // idempotent
	rel2()
	rel3()
	gatewayQueues.mu.Lock()
	defer gatewayQueues.mu.Unlock()
	if _, ok := gatewayQueues.m[gw]; ok {
		t.Fatal("released queue still registered")
	}
}

// TestQueueOneOutstanding makes 100 calls at once from 100 goroutines on two
// clients of one gateway. The test plays the gateway and releases each
// reply by hand, so it sees every request written: never one while another
// is outstanding (neither answered nor given up), and in the order the
// calls were queued, across the two clients. Two calls give up (one
// canceled, one after its 9 tries): the next request waits for that too.
func TestQueueOneOutstanding(t *testing.T) {
	wire, clk := newFakeWire(), newFakeClock()
	var clients [2]*Client
	for i := range clients {
		c, err := NewClient(testGW, withConn(wire.conn()), withClock(clk))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		clients[i] = c
	}
	queued := func() int {
		n := clients[0].queue.queued()
		if clients[1].queue != clients[0].queue {
			n += clients[1].queue.queued()
		}
		return n
	}

	const n = 100
	const canceled, timedOut = 30, 60 // calls that give up instead of being answered
	type call struct {
		port   uint16
		cancel context.CancelFunc
		result chan error
	}
	calls := make([]call, n)
	for i := range calls {
		ctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel)
		c := call{port: uint16(10000 + i), cancel: cancel, result: make(chan error, 1)}
		calls[i] = c
		go func() {
			m, err := clients[i%2].Map(ctx, TCP, c.port, 0, time.Hour)
			if err == nil && (m.InternalPort != c.port || m.ExternalPort != c.port+1000) {
				err = fmt.Errorf("call for port %d got %+v", c.port, m)
			}
			c.result <- err
		}()
		// Call i is on the wire or queued before call i+1 starts: the
		// queue's order is that of the calls.
		waitFor(t, fmt.Sprintf("call %d to queue", i), func() bool {
			sent, _ := wire.stats()
			return sent+queued() == i+1
		})
	}

	for i, c := range calls {
		req, p := wire.next(t)
		if _, overlaps := wire.stats(); len(overlaps) > 0 {
			t.Fatalf("%d requests written while another was outstanding; first: %s", len(overlaps), overlaps[0])
		}
		if p.retry || req.InternalPort != c.port {
			t.Fatalf("request %d written is %+v (retransmission: %v), want call %d's (port %d): not in queue order",
				i, req, p.retry, i, c.port)
		}
		wait := <-clk.created
		var want error
		switch i {
		case canceled:
			wire.finish()
			c.cancel()
			want = context.Canceled
		case timedOut:
			for try := 2; try <= DefaultMaxAttempts; try++ {
				clk.Advance(wait)
				if req, p := wire.next(t); !p.retry {
					t.Fatalf("try %d of call %d: %+v written, want a retransmission", try, i, req)
				}
				wait = <-clk.created
			}
			wire.finish()
			clk.Advance(wait)
			want = ErrTimeout
		default:
			wire.finish()
			p.conn.reply(t, testGW, Response{Op: 130, Epoch: 100, InternalPort: c.port, ExternalPort: c.port + 1000, Lifetime: 3600})
		}
		select {
		case err := <-c.result:
			if !errors.Is(err, want) {
				t.Fatalf("call %d: %v, want %v", i, err, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("call %d did not return", i)
		}
	}
	if sent, overlaps := wire.stats(); sent != n || len(overlaps) > 0 {
		t.Fatalf("%d requests written, want %d; overlaps: %q", sent, n, overlaps)
	}
}
