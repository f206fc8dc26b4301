package natpmp

import (
	"context"
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
