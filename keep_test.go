package portmap

import (
	"context"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/portmap-dev/portmap/portmaptest"
)

// eventLog collects a keeper's events.
type eventLog struct {
	mu sync.Mutex
	ev []Event
	ch chan Event
}

func newEventLog() *eventLog { return &eventLog{ch: make(chan Event, 1000)} }

func (l *eventLog) add(e Event) {
	l.mu.Lock()
	l.ev = append(l.ev, e)
	l.mu.Unlock()
	l.ch <- e
}

func (l *eventLog) wait(t *testing.T, kind EventKind, d time.Duration) Event {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case e := <-l.ch:
			if e.Kind == kind {
				return e
			}
		case <-deadline:
			t.Fatalf("no %v event within %v", kind, d)
		}
	}
}

// runKeeper runs k until the test ends (or stop is called) and waits for it.
func runKeeper(t *testing.T, k *Keeper) (stop func()) {
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- k.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// keeping is a keeper under test with its event log.
type keeping struct {
	k    *Keeper
	log  *eventLog
	m    Mapping // the first mapping, made by Add
	stop func()
}

// startKeeper makes a keeper on c that checks every check (Discovery
// finds the gateway again), adds req and runs it until the test ends.
func startKeeper(t *testing.T, c *Client, discovery Options, check time.Duration, req Request) keeping {
	t.Helper()
	log := newEventLog()
	k := NewKeeper(c, KeeperOptions{Discovery: discovery, OnEvent: log.add, CheckInterval: check})
	m, err := k.Add(testContext(t), req)
	if err != nil {
		t.Fatal(err)
	}
	return keeping{k: k, log: log, m: m, stop: runKeeper(t, k)}
}

func TestKeeperRenewsAndDeletes(t *testing.T) {
	for _, p := range Protocols {
		t.Run(string(p), func(t *testing.T) {
			gw, o := fakeGateway(t, portmaptest.WithConfig(portmaptest.Config{PCPMinLifetime: time.Second}))
			o.Protocols = []Protocol{p}
			kp := startKeeper(t, discover(t, o), o, 100*time.Millisecond, Request{InternalPort: 6000, Lifetime: 2 * time.Second})
			log, m := kp.log, kp.m
			log.wait(t, Created, time.Second)
			r := log.wait(t, Renewed, 3*time.Second)
			if r.Mapping.External != m.External {
				t.Errorf("renewal moved the mapping: %v -> %v", m.External, r.Mapping.External)
			}
			kp.stop()
			log.wait(t, Deleted, time.Second)
			if gatewayHas(gw, "TCP", m.External.Port(), m.Internal) {
				t.Error("the keeper left its mapping in the gateway when it stopped")
			}
		})
	}
}

func TestKeeperRestoresAfterReboot(t *testing.T) {
	for _, p := range Protocols {
		t.Run(string(p), func(t *testing.T) {
			gw, o := fakeGateway(t)
			o.Protocols = []Protocol{p}
			kp := startKeeper(t, discover(t, o), o, 100*time.Millisecond, Request{InternalPort: 6001, Lifetime: time.Hour})
			k, log, m := kp.k, kp.log, kp.m
			// Let the keeper see the gateway up for a while, as in life.
			time.Sleep(300 * time.Millisecond)
			gw.Reboot()
			if gatewayHas(gw, "TCP", m.External.Port(), m.Internal) {
				t.Fatal("the fake gateway kept the mapping across Reboot")
			}
			log.wait(t, Lost, 2*time.Second)
			e := log.wait(t, Restored, 2*time.Second)
			if e.Mapping.External.Port() != m.External.Port() || !gatewayHas(gw, "TCP", m.External.Port(), m.Internal) {
				t.Errorf("restored %+v; gateway has %+v", e.Mapping, gw.Mappings())
			}
			if got := k.Mappings(); len(got) != 1 || got[0].External != e.Mapping.External {
				t.Errorf("Mappings() = %+v", got)
			}
		})
	}
}

func TestKeeperHoldWaitsForGateway(t *testing.T) {
	// A daemon may start before the gateway lets it map: held mappings are
	// made when the gateway stops refusing.
	gw, o := fakeGateway(t)
	o.Protocols = []Protocol{NATPMP}
	c := discover(t, o)
	gw.FailNext("natpmp:map", 3) // NetworkFailure: no external link yet
	log := newEventLog()
	k := NewKeeper(c, KeeperOptions{Discovery: o, OnEvent: log.add, MaxBackoff: 200 * time.Millisecond})
	k.Hold(Request{InternalPort: 6002, Lifetime: time.Hour})
	runKeeper(t, k)
	if e := log.wait(t, Failed, 2*time.Second); e.Err == nil {
		t.Error("Failed event without its error")
	}
	e := log.wait(t, Created, 3*time.Second)
	if !gatewayHas(gw, "TCP", e.Mapping.External.Port(), e.Mapping.Internal) {
		t.Errorf("created %+v but the gateway has %+v", e.Mapping, gw.Mappings())
	}
}

func TestKeepHelper(t *testing.T) {
	gw, o := fakeGateway(t)
	c := discover(t, o)
	ctx, cancel := context.WithCancel(t.Context())
	m, k, err := Keep(ctx, c, Request{InternalPort: 6003}, KeeperOptions{})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if len(k.Mappings()) != 1 || !gatewayHas(gw, "TCP", m.External.Port(), m.Internal) {
		t.Fatalf("Keep made %+v; gateway has %+v", m, gw.Mappings())
	}
	cancel()
	select {
	case <-k.Done():
	case <-time.After(3 * time.Second):
		t.Fatal("the keeper did not stop within 3 s of its context")
	}
	if gatewayHas(gw, "TCP", m.External.Port(), m.Internal) {
		t.Error("Keep's mapping outlived its context")
	}
}

func TestKeeperRestoresAfterOutage(t *testing.T) {
	// The gateway stops answering until the mappings' leases run out and
	// the keeper's backoff has grown to seconds; when it answers again the
	// next check (not the backoff) brings the mappings back.
	for _, p := range Protocols {
		t.Run(string(p), func(t *testing.T) {
			gw, o := fakeGateway(t, portmaptest.WithConfig(portmaptest.Config{PCPMinLifetime: time.Second}))
			o.Protocols = []Protocol{p}
			kp := startKeeper(t, discover(t, o), o, 100*time.Millisecond, Request{InternalPort: 6003, Lifetime: time.Second})
			log, m := kp.log, kp.m
			// Silence: UDP requests dropped (NAT-PMP, PCP, SSDP), HTTP
			// connections hung up (UPnP).
			gw.SetDropRate(1)
			gw.FailAlways("*", portmaptest.Drop)
			log.wait(t, Lost, 3*time.Second)
			time.Sleep(4 * time.Second) // the backoff grows to 4 s and more
			gw.Reboot()                 // what the gateway held is gone too
			gw.SetDropRate(0)
			gw.ClearFailures()
			back := time.Now()
			e := log.wait(t, Restored, 2*time.Second)
			t.Logf("restored %v after the gateway answered again", time.Since(back).Round(time.Millisecond))
			if e.Mapping.External.Port() != m.External.Port() || !gatewayHas(gw, "TCP", m.External.Port(), m.Internal) {
				t.Errorf("restored %+v; gateway has %+v", e.Mapping, gw.Mappings())
			}
		})
	}
}

func TestKeeperFollowsGatewayMove(t *testing.T) {
	// The host moves to another network: the old gateway is gone (its
	// port answers "unreachable") and discovery finds another one there.
	for _, p := range Protocols {
		t.Run(string(p), func(t *testing.T) {
			oldGW, oldOpts := fakeGateway(t)
			newGW, newOpts := fakeGateway(t)
			oldOpts.Protocols, newOpts.Protocols = []Protocol{p}, []Protocol{p}
			c := discover(t, oldOpts)
			kp := startKeeper(t, c, newOpts, 100*time.Millisecond, Request{InternalPort: 6004, Lifetime: time.Hour})
			oldGW.Close()
			log, m := kp.log, kp.m
			e := log.wait(t, Restored, 5*time.Second)
			if !gatewayHas(newGW, "TCP", e.Mapping.External.Port(), m.Internal) {
				t.Errorf("restored %+v; the new gateway has %+v", e.Mapping, newGW.Mappings())
			}
			if kp.k.Client() == c {
				t.Error("the keeper still maps through the old client")
			}
			kp.stop()
			if len(newGW.Mappings()) != 0 {
				t.Errorf("the keeper left %+v in the new gateway", newGW.Mappings())
			}
		})
	}
}

func TestKeeperFollowsGENAAddressChange(t *testing.T) {
	// The UPnP keeper learns a new external address from the WAN
	// connection's GENA event, not from a check: its checks (GetStatusInfo)
	// are an hour apart here and do not carry the address.
	gw, o := fakeGateway(t)
	o.Protocols = []Protocol{UPnP}
	kp := startKeeper(t, discover(t, o), o, time.Hour, Request{InternalPort: 6005, Lifetime: time.Hour})
	log, m := kp.log, kp.m
	// Let the subscription's initial event arrive first.
	deadline := time.Now().Add(2 * time.Second)
	for len(gw.RequestsFor("gena:subscribe")) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	moved := netip.MustParseAddr("203.0.113.99")
	gw.SetExternalIP(moved)
	e := log.wait(t, AddressChanged, 3*time.Second)
	if e.Mapping.External != netip.AddrPortFrom(moved, m.External.Port()) {
		t.Errorf("address change reported %v, want %v:%d", e.Mapping.External, moved, m.External.Port())
	}
}
