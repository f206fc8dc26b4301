//go:build linux

package e2e

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/portmap-dev/portmap"
	"github.com/portmap-dev/portmap/internal/testbed"
)

// outage is how long the gateway stays unreachable in
// TestKeepThroughOutage: minutes, long past every lease and deep into the
// keeper's backoff.
const outage = 2 * time.Minute

// TestKeepThroughOutage cuts the gateway off (every NAT-PMP, PCP, SSDP and
// UPnP HTTP packet dropped) for two minutes while one keeper per protocol
// holds a 10 s mapping: they must back off rather than hammer the
// gateway, and bring the mappings back soon after it answers again.
func TestKeepThroughOutage(t *testing.T) {
	tb := testbed.Get(t)
	type kept struct {
		p      portmap.Protocol
		lan    uint16
		events chan portmap.Event
		done   chan error
	}
	ctx, cancel := context.WithCancel(t.Context())
	var all []*kept
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	for _, kp := range keepProtocols {
		c, opts := keepClient(t, tb, kp.p)
		kt := &kept{p: kp.p, lan: kp.base + 20, events: make(chan portmap.Event, 1000), done: make(chan error, 1)}
		k := portmap.NewKeeper(c, portmap.KeeperOptions{Discovery: opts, OnEvent: func(e portmap.Event) { kt.events <- e }})
		if _, err := k.Add(ctx, portmap.Request{InternalPort: kt.lan, ExternalPort: kt.lan, Lifetime: 10 * time.Second}); err != nil {
			t.Fatalf("%s: %v", kp.p, err)
		}
		wg.Go(func() { kt.done <- k.Run(ctx) })
		all = append(all, kt)
	}
	var cut []func()
	for _, b := range []struct {
		transport string
		port      uint16
	}{{"udp", 5351}, {"udp", 1900}, {"tcp", uint16(tb.HTTPPort)}} {
		cut = append(cut, tb.InjectLoss(t, b.transport, b.port, 100))
	}
	start := time.Now()
	for _, kt := range all {
		waitEvent(t, kt.events, portmap.Lost, 30*time.Second)
	}
	time.Sleep(time.Until(start.Add(outage)))
	// Count what each keeper tried once the leases had run out.
	attempts := map[portmap.Protocol]int{}
	for _, kt := range all {
		for n := len(kt.events); n > 0; n-- {
			if e := <-kt.events; e.Kind == portmap.Failed || e.Kind == portmap.Lost {
				attempts[kt.p]++
			}
		}
	}
	for _, undo := range cut {
		undo()
	}
	answering := time.Now()
	for _, kt := range all {
		e := waitEvent(t, kt.events, portmap.Restored, 60*time.Second)
		if err := tb.CheckTCP(t, e.Mapping.External.Port(), kt.lan); err != nil {
			t.Fatalf("%s: restored mapping carries no connection: %v", kt.p, err)
		}
		back := time.Since(answering)
		fmt.Printf("FIGURE keep-outage %s: gateway unreachable %v, %d attempts after the lease ran out, mapping back and carrying TCP %v after it answered again\n",
			kt.p, outage, attempts[kt.p], back.Round(time.Millisecond))
		if back > 10*time.Second {
			t.Errorf("%s: restored %v after the gateway answered again; want within 10 s", kt.p, back)
		}
		// Backoff: without it, retries every 100 ms would make about
		// a thousand attempts in two minutes.
		if attempts[kt.p] > 100 {
			t.Errorf("%s: %d attempts during a %v outage: no backoff", kt.p, attempts[kt.p], outage)
		}
	}
	cancel()
	for _, kt := range all {
		if err := <-kt.done; err != nil {
			t.Errorf("%s: Run: %v", kt.p, err)
		}
	}
}
