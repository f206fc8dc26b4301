package natpmp

import (
	"context"
	"net/netip"
	"sync"
)

// fifo is a lock handed to waiters in arrival order. It serializes the
// requests to one gateway: RFC 6886 §3.1 wants a client to have only one
// request outstanding at a time.
type fifo struct {
	mu      sync.Mutex
	busy    bool
	waiters []chan struct{}
}

// lock waits for the lock, in order of arrival, until ctx or stop ends.
func (q *fifo) lock(ctx context.Context, stop <-chan struct{}) error {
	q.mu.Lock()
	if !q.busy {
		q.busy = true
		q.mu.Unlock()
		return nil
	}
	ch := make(chan struct{})
	q.waiters = append(q.waiters, ch)
	q.mu.Unlock()

	var err error
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		err = ctx.Err()
	case <-stop:
		err = ErrClosed
	}
	q.mu.Lock()
	for i, w := range q.waiters {
		if w == ch {
			q.waiters = append(q.waiters[:i], q.waiters[i+1:]...)
			q.mu.Unlock()
			return err
		}
	}
	q.mu.Unlock()
	// The lock was handed to us while we gave up: pass it on.
	q.unlock()
	return err
}

// unlock hands the lock to the longest waiter, or frees it.
func (q *fifo) unlock() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.waiters) == 0 {
		q.busy = false
		return
	}
	ch := q.waiters[0]
	q.waiters = q.waiters[1:]
	close(ch)
}

// gatewayQueues holds one fifo per gateway for the whole process, so that
// several Clients of one gateway still keep one request outstanding.
var gatewayQueues struct {
	mu sync.Mutex
	m  map[netip.AddrPort]*sharedFIFO
}

type sharedFIFO struct {
	fifo
	refs int
}

// acquireQueue returns the gateway's queue and a function to release it.
func acquireQueue(gw netip.AddrPort) (*fifo, func()) {
	gatewayQueues.mu.Lock()
	defer gatewayQueues.mu.Unlock()
	if gatewayQueues.m == nil {
		gatewayQueues.m = make(map[netip.AddrPort]*sharedFIFO)
	}
	q := gatewayQueues.m[gw]
	if q == nil {
		q = &sharedFIFO{}
		gatewayQueues.m[gw] = q
	}
	q.refs++
	var once sync.Once
	return &q.fifo, func() {
		once.Do(func() {
			gatewayQueues.mu.Lock()
			defer gatewayQueues.mu.Unlock()
			q.refs--
			if q.refs == 0 {
				delete(gatewayQueues.m, gw)
			}
		})
	}
}
