//go:build linux

package e2e

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/portmap-dev/portmap/internal/netinfo"
	"github.com/portmap-dev/portmap/internal/testbed"
	"github.com/portmap-dev/portmap/natpmp"
)

// NAT-PMP against miniupnpd 2.3.1. Ports used here: 20000-29999.

// natpmpClient returns a client of the testbed's gateway, closed at the end
// of the test.
func natpmpClient(t *testing.T, tb *testbed.Testbed, opts ...natpmp.Option) *natpmp.Client {
	t.Helper()
	c, err := natpmp.NewClient(netip.AddrPortFrom(tb.GatewayLAN, natpmp.Port), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

// natpmpRule reports whether the gateway's ruleset holds miniupnpd's DNAT
// rule for proto ext -> Host:lan ("@nh,72,8" is the IPv4 protocol byte).
func natpmpRule(rs string, tb *testbed.Testbed, proto natpmp.Protocol, ext, lan uint16) bool {
	num := map[natpmp.Protocol]string{natpmp.TCP: "0x6", natpmp.UDP: "0x11"}[proto]
	want := fmt.Sprintf("th dport %d dnat ip to %s:%d", ext, tb.Host, lan)
	for _, line := range strings.Split(rs, "\n") {
		if strings.Contains(line, "@nh,72,8 "+num+" ") && strings.Contains(line, want) {
			return true
		}
	}
	return false
}

var (
	natpmpcPublic = regexp.MustCompile(`Public IP address : (\S+)`)
	natpmpcEpoch  = regexp.MustCompile(`epoch = (\d+)`)
	natpmpcMapped = regexp.MustCompile(`Mapped public port (\d+) protocol (\w+) to local port (\d+) liftime (\d+)`)
)

func TestNATPMPGatewayDetection(t *testing.T) {
	tb := testbed.Get(t)
	gw, err := netinfo.DefaultGateway()
	if err != nil || gw != tb.GatewayLAN {
		t.Fatalf("DefaultGateway() = %v, %v; want %v", gw, err, tb.GatewayLAN)
	}
	g, err := netinfo.InterfaceGateway(tb.LANInterface)
	if err != nil || g.Addr != tb.GatewayLAN {
		t.Fatalf("InterfaceGateway(%q) = %+v, %v", tb.LANInterface, g, err)
	}
	all, err := netinfo.DefaultGateways()
	if err != nil || len(all) != 2 || all[1].Addr != tb.GatewayLAN6 {
		t.Fatalf("DefaultGateways() = %+v, %v; want %v then %v", all, err, tb.GatewayLAN, tb.GatewayLAN6)
	}
	for gw, want := range map[netip.Addr]netip.Addr{tb.GatewayLAN: tb.Host, tb.GatewayLAN6: tb.Host6} {
		if local, err := netinfo.LocalAddr(gw); err != nil || local != want {
			t.Errorf("LocalAddr(%v) = %v, %v; want %v", gw, local, err, want)
		}
	}
}

func TestNATPMPExternalAddress(t *testing.T) {
	tb := testbed.Get(t)
	c := natpmpClient(t, tb)
	start := time.Now()
	ext, err := c.ExternalAddress(ctxFor(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	rtt := time.Since(start)
	if ext.Addr != tb.WAN {
		t.Fatalf("external address %v, want %v", ext.Addr, tb.WAN)
	}
	// Cross-check with natpmpc.
	out := runTool(t, "natpmpc", "-g", tb.GatewayLAN.String())
	m := natpmpcPublic.FindStringSubmatch(out)
	e := natpmpcEpoch.FindStringSubmatch(out)
	if m == nil || e == nil || m[1] != ext.Addr.String() {
		t.Fatalf("natpmpc says:\n%s\nwe said %v", out, ext.Addr)
	}
	if ne, _ := strconv.ParseUint(e[1], 10, 32); ne < uint64(ext.Epoch) || ne > uint64(ext.Epoch)+5 {
		t.Fatalf("natpmpc epoch %d, ours %d", ne, ext.Epoch)
	}
	t.Logf("external address %v, epoch %d, round trip %v", ext.Addr, ext.Epoch, rtt)
}

func TestNATPMPMapTCPAndUDP(t *testing.T) {
	tb := testbed.Get(t)
	c := natpmpClient(t, tb)
	ctx := ctxFor(t, 30*time.Second)
	for _, tt := range []struct {
		proto    natpmp.Protocol
		ext, lan uint16
		check    func(testing.TB, uint16, uint16) error
	}{
		{natpmp.TCP, 20080, 20081, tb.CheckTCP},
		{natpmp.UDP, 20090, 20091, tb.CheckUDP},
	} {
		t.Run(tt.proto.String(), func(t *testing.T) {
			if err := tt.check(t, tt.ext, tt.lan); err == nil {
				t.Fatal("traffic got through before the mapping")
			}
			start := time.Now()
			m, err := c.Map(ctx, tt.proto, tt.lan, tt.ext, 10*time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("mapped %+v in %v", m, time.Since(start))
			if m.ExternalPort != tt.ext || m.InternalPort != tt.lan || m.Lifetime != 10*time.Minute || m.Protocol != tt.proto {
				t.Fatalf("mapping %+v", m)
			}
			if rs := tb.Ruleset(t); !natpmpRule(rs, tb, tt.proto, tt.ext, tt.lan) {
				t.Fatalf("no DNAT rule for %v %d -> %d in the gateway's ruleset:\n%s", tt.proto, tt.ext, tt.lan, rs)
			}
			if err := tt.check(t, tt.ext, tt.lan); err != nil {
				t.Fatalf("mapping carries no traffic: %v", err)
			}
			// natpmpc, asking for the same mapping, is told the same.
			out := runTool(t, "natpmpc", "-g", tb.GatewayLAN.String(), "-a", strconv.Itoa(int(tt.ext)),
				strconv.Itoa(int(tt.lan)), strings.ToLower(tt.proto.String()), "600")
			mm := natpmpcMapped.FindStringSubmatch(out)
			if mm == nil || mm[1] != strconv.Itoa(int(m.ExternalPort)) || mm[2] != tt.proto.String() || mm[3] != strconv.Itoa(int(tt.lan)) {
				t.Fatalf("natpmpc disagrees with %+v:\n%s", m, out)
			}
			// A renewal keeps the port.
			r, err := c.Renew(ctx, m, 20*time.Minute)
			if err != nil || r.ExternalPort != m.ExternalPort || r.Lifetime != 20*time.Minute {
				t.Fatalf("renewal %+v, %v", r, err)
			}
			if err := c.Delete(ctx, tt.proto, tt.lan); err != nil {
				t.Fatal(err)
			}
			if rs := tb.Ruleset(t); natpmpRule(rs, tb, tt.proto, tt.ext, tt.lan) {
				t.Fatalf("rule still there after Delete:\n%s", rs)
			}
			if err := tt.check(t, tt.ext, tt.lan); err == nil {
				t.Fatal("traffic got through after Delete")
			}
			// Deleting again is not an error.
			if err := c.Delete(ctx, tt.proto, tt.lan); err != nil {
				t.Fatalf("second delete: %v", err)
			}
		})
	}
}

func TestNATPMPDeleteAll(t *testing.T) {
	tb := testbed.Get(t)
	c := natpmpClient(t, tb)
	ctx := ctxFor(t, 30*time.Second)
	type mp struct {
		proto    natpmp.Protocol
		ext, lan uint16
	}
	maps := []mp{{natpmp.TCP, 21001, 21001}, {natpmp.TCP, 21002, 21012}, {natpmp.UDP, 21003, 21003}}
	for _, m := range maps {
		if _, err := c.Map(ctx, m.proto, m.lan, m.ext, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	// One more TCP mapping made by natpmpc: DeleteAll removes all of this
	// host's, not only ours.
	runTool(t, "natpmpc", "-g", tb.GatewayLAN.String(), "-a", "21004", "21004", "tcp", "600")
	maps = append(maps, mp{natpmp.TCP, 21004, 21004})
	rs := tb.Ruleset(t)
	for _, m := range maps {
		if !natpmpRule(rs, tb, m.proto, m.ext, m.lan) {
			t.Fatalf("missing rule for %+v:\n%s", m, rs)
		}
	}
	if err := c.DeleteAll(ctx, natpmp.TCP); err != nil {
		t.Fatal(err)
	}
	rs = tb.Ruleset(t)
	for _, m := range maps {
		if m.proto == natpmp.TCP && natpmpRule(rs, tb, m.proto, m.ext, m.lan) {
			t.Fatalf("after DeleteAll(TCP), rule for %+v still there:\n%s", m, rs)
		}
	}
	if err := tb.CheckTCP(t, 21001, 21001); err == nil {
		t.Fatal("TCP got through after DeleteAll")
	}
	// Gateway quirk: miniupnpd (2.3.1 here) ignores the protocol of a
	// delete-all and removes the client's UDP mappings too (RFC 6886 §3.4
	// says only those of the protocol).
	if natpmpRule(rs, tb, natpmp.UDP, 21003, 21003) {
		t.Log("DeleteAll(TCP) kept the UDP mapping, as RFC 6886 says")
	} else {
		t.Log("DeleteAll(TCP) removed the UDP mapping too (miniupnpd quirk)")
	}
	if err := c.DeleteAll(ctx, natpmp.UDP); err != nil {
		t.Fatal(err)
	}
	if rs := tb.Ruleset(t); natpmpRule(rs, tb, natpmp.UDP, 21003, 21003) {
		t.Fatalf("UDP rule after DeleteAll(UDP):\n%s", rs)
	}
}

func TestNATPMPConcurrentCalls(t *testing.T) {
	tb := testbed.Get(t)
	c := natpmpClient(t, tb, natpmp.WithInitialTimeout(500*time.Millisecond))
	ctx := ctxFor(t, 30*time.Second)
	const n = 20
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		wg.Go(func() {
			port := uint16(22000 + i)
			m, err := c.Map(ctx, natpmp.UDP, port, port, 5*time.Minute)
			if err != nil || m.ExternalPort != port {
				t.Errorf("map %d: %+v, %v", port, m, err)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	rs := tb.Ruleset(t)
	for i := range n {
		if port := uint16(22000 + i); !natpmpRule(rs, tb, natpmp.UDP, port, port) {
			t.Errorf("no rule for %d", port)
		}
	}
	t.Logf("%d concurrent mappings (serialized) in %v, %v each", n, elapsed, elapsed/n)
	if err := c.DeleteAll(ctx, natpmp.UDP); err != nil {
		t.Fatal(err)
	}
}

func TestNATPMPPortUnreachable(t *testing.T) {
	tb := testbed.Get(t)
	// Nothing listens on this port of the gateway: ICMP port unreachable
	// must end the call at once, not after 9 tries.
	c, err := natpmp.NewClient(netip.AddrPortFrom(tb.GatewayLAN, 5399))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	_, err = c.ExternalAddress(ctxFor(t, 10*time.Second))
	if !errors.Is(err, natpmp.ErrNotSupported) {
		t.Fatalf("error %v, want ErrNotSupported", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("took %v: the ICMP error was not used", d)
	}
	t.Logf("no NAT-PMP noticed in %v", time.Since(start))
}

// tryCounter is a slog handler that counts the client's sends.
type tryCounter struct{ sends atomic.Int64 }

func (h *tryCounter) Enabled(context.Context, slog.Level) bool { return true }
func (h *tryCounter) Handle(_ context.Context, r slog.Record) error {
	if r.Message == "natpmp: send" {
		h.sends.Add(1)
	}
	return nil
}
func (h *tryCounter) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *tryCounter) WithGroup(string) slog.Handler      { return h }

func TestNATPMPLoss(t *testing.T) {
	tb := testbed.Get(t)
	counter := &tryCounter{}
	// 30% of requests and 30% of replies are dropped: a try succeeds with
	// probability 0.49. With a 10 ms first wait, 11 tries fit in 15 s and
	// all fail with probability 0.51^11 = 0.06% per call (one CI run in a
	// few hundred hit it). A call that runs out of tries is made once more,
	// as the keeper would: both fail with probability 4e-7, while a client
	// that never retransmitted would fail here nine runs in ten.
	c := natpmpClient(t, tb, natpmp.WithInitialTimeout(10*time.Millisecond), natpmp.WithMaxAttempts(12),
		natpmp.WithLogger(slog.New(counter)))
	remove := tb.InjectLoss(t, "udp", natpmp.Port, 30)
	const calls = 8
	var worst time.Duration
	start := time.Now()
	for i := range calls {
		ctx := ctxFor(t, 15*time.Second)
		t0 := time.Now()
		port := uint16(23000 + i)
		proto := natpmp.TCP
		if i%2 == 1 {
			proto = natpmp.UDP
		}
		m, err := c.Map(ctx, proto, port, port, 10*time.Minute)
		if errors.Is(err, natpmp.ErrTimeout) || errors.Is(err, context.DeadlineExceeded) {
			t.Logf("map %v %d under 30%% loss, first call: %v; calling again", proto, port, err)
			m, err = c.Map(ctxFor(t, 15*time.Second), proto, port, port, 10*time.Minute)
		}
		if err != nil {
			t.Fatalf("map %v %d under 30%% loss: %v", proto, port, err)
		}
		if m.ExternalPort != port {
			t.Fatalf("mapping %+v", m)
		}
		worst = max(worst, time.Since(t0))
	}
	ext, err := c.ExternalAddress(ctxFor(t, 15*time.Second))
	if err != nil || ext.Addr != tb.WAN {
		t.Fatalf("external address under loss: %v, %v", ext.Addr, err)
	}
	total := time.Since(start)
	t.Logf("30%% loss: %d calls in %v, %d sends (%.2f per call), slowest %v",
		calls+1, total, counter.sends.Load(), float64(counter.sends.Load())/float64(calls+1), worst)

	// The same loss with the client's defaults, the RFC 6886 §3.1 schedule
	// (250 ms doubling, 9 tries, 127.75 s in all), bounded by a context a
	// little longer than that. A call fails only if all 9 tries do: with
	// probability 0.51^9 = 0.23%.
	defCounter := &tryCounter{}
	def := natpmpClient(t, tb, natpmp.WithLogger(slog.New(defCounter)))
	const defPort = 23100
	t0 := time.Now()
	m, err := def.Map(ctxFor(t, 130*time.Second), natpmp.TCP, defPort, defPort, 10*time.Minute)
	if err != nil {
		t.Fatalf("map TCP %d under 30%% loss with the default schedule: %v", defPort, err)
	}
	if m.ExternalPort != defPort || m.InternalPort != defPort {
		t.Fatalf("mapping with the default schedule %+v", m)
	}
	t.Logf("default schedule under 30%% loss: mapped in %v, %d sends", time.Since(t0), defCounter.sends.Load())

	remove()
	for _, port := range []uint16{23000, defPort} {
		if err := tb.CheckTCP(t, port, port); err != nil {
			t.Fatalf("mapping of port %d made under loss carries no traffic: %v", port, err)
		}
	}
	ctx := ctxFor(t, 10*time.Second)
	for _, p := range []natpmp.Protocol{natpmp.TCP, natpmp.UDP} {
		if err := c.DeleteAll(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
}

func TestNATPMPGatewayRestart(t *testing.T) {
	tb := testbed.Get(t)
	// One client listens for announcements on 224.0.0.1:5350 too; the
	// other learns of the reboot from the epoch of its next reply only.
	withAnn := natpmpClient(t, tb)
	replyOnly := natpmpClient(t, tb)
	ctx := ctxFor(t, 60*time.Second)
	if err := withAnn.ListenAnnouncements(ctx); err != nil {
		t.Fatal(err)
	}
	const port = 24080
	before, err := replyOnly.Map(ctx, natpmp.TCP, port, port, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	// RFC 6886 §3.6 allows 2 s of slack: a gateway that reboots within
	// seconds of its start cannot be told from one that did not. Let the
	// daemon get old enough for the test to be meaningful.
	if before.Epoch < 6 {
		time.Sleep(time.Duration(6-before.Epoch) * time.Second)
		if before, err = replyOnly.Map(ctx, natpmp.TCP, port, port, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := withAnn.ExternalAddress(ctx); err != nil {
		t.Fatal(err)
	}
	if err := tb.CheckTCP(t, port, port); err != nil {
		t.Fatal(err)
	}

	tb.RestartGateway(t) // waits for 3 s of uptime first
	restarted := time.Now()
	if rs := tb.Ruleset(t); natpmpRule(rs, tb, natpmp.TCP, port, port) {
		t.Fatal("mapping survived the restart")
	}

	// miniupnpd 2.3.1 does not announce when it starts, only on SIGUSR1
	// (or when its external address changes): ask it to, so that the
	// listening client learns of the reboot without asking.
	select {
	case ev := <-withAnn.Events():
		t.Logf("announcement %v after the restart", time.Since(restarted))
		if !ev.Reboot || !ev.Announced {
			t.Fatalf("announcement event %+v, want a reboot", ev)
		}
	case <-time.After(time.Second):
		announceNow(t, tb)
		select {
		case ev := <-withAnn.Events():
			if !ev.Reboot || !ev.Announced || ev.ExternalAddr != tb.WAN {
				t.Fatalf("announcement event %+v, want a reboot", ev)
			}
			t.Logf("reboot learnt from the announcement: %+v", ev)
		case <-time.After(5 * time.Second):
			t.Fatal("no event from the announcement after the restart")
		}
	}

	// The epoch of the next reply tells the other client.
	after, err := replyOnly.Map(ctx, natpmp.TCP, port, port, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("epoch %d before the restart, %d after", before.Epoch, after.Epoch)
	select {
	case ev := <-replyOnly.Events():
		if !ev.Reboot || ev.Announced || ev.Epoch != after.Epoch {
			t.Fatalf("event %+v", ev)
		}
	default:
		t.Fatal("the reboot went unnoticed by the epoch check")
	}
	// natpmpc sees the new epoch too.
	out := runTool(t, "natpmpc", "-g", tb.GatewayLAN.String())
	e := natpmpcEpoch.FindStringSubmatch(out)
	if e == nil {
		t.Fatalf("natpmpc after restart:\n%s", out)
	}
	if ne, _ := strconv.ParseUint(e[1], 10, 32); ne < uint64(after.Epoch) || ne > uint64(after.Epoch)+5 {
		t.Fatalf("natpmpc epoch %d after restart; ours %d", ne, after.Epoch)
	}
	// The mapping made again works.
	if err := tb.CheckTCP(t, port, port); err != nil {
		t.Fatalf("mapping restored after the reboot carries no traffic: %v", err)
	}
	if err := replyOnly.Delete(ctx, natpmp.TCP, port); err != nil {
		t.Fatal(err)
	}
}

// announceNow makes miniupnpd multicast its external address (SIGUSR1).
func announceNow(t *testing.T, tb *testbed.Testbed) {
	t.Helper()
	pid, err := tb.GatewayPID()
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
}

// sourceRecorder is an announcement socket that remembers the source of
// every datagram it receives.
type sourceRecorder struct {
	net.PacketConn
	mu   sync.Mutex
	from []net.Addr
}

func (r *sourceRecorder) ReadFrom(b []byte) (int, net.Addr, error) {
	n, addr, err := r.PacketConn.ReadFrom(b)
	if err == nil {
		r.mu.Lock()
		r.from = append(r.from, addr)
		r.mu.Unlock()
	}
	return n, addr, err
}

func (r *sourceRecorder) sources() []net.Addr {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]net.Addr(nil), r.from...)
}

func TestNATPMPAnnouncements(t *testing.T) {
	tb := testbed.Get(t)
	ctx := ctxFor(t, 20*time.Second)
	// Two listeners on 224.0.0.1:5350 at once, as two programs would be.
	var ls []*natpmp.Listener
	for range 2 {
		l, err := natpmp.ListenAnnouncements(ctx, tb.GatewayLAN)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		ls = append(ls, l)
	}
	// A third one on a socket of the standard library (SO_REUSEADDR only)
	// that records where the announcements come from: RFC 6886 §3.2.1 says
	// from the gateway's port 5351, and the listeners accept no other.
	pc, err := net.ListenMulticastUDP("udp4", nil, net.UDPAddrFromAddrPort(natpmp.AnnounceGroup))
	if err != nil {
		t.Fatal(err)
	}
	rec := &sourceRecorder{PacketConn: pc}
	l, err := natpmp.ListenAnnouncements(ctx, tb.GatewayLAN, natpmp.WithAnnounceConn(rec))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ls = append(ls, l)
	// A listener for another gateway hears nothing.
	other, err := natpmp.ListenAnnouncements(ctx, netip.MustParseAddr("10.77.0.99"))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	announceNow(t, tb)
	for i, l := range ls {
		select {
		case a := <-l.Announcements():
			if a.Gateway != tb.GatewayLAN || a.ExternalAddr != tb.WAN || a.Result != natpmp.ResultSuccess || a.Reboot {
				t.Fatalf("listener %d: %+v", i, a)
			}
			t.Logf("listener %d: %+v", i, a)
		case <-time.After(5 * time.Second):
			t.Fatalf("listener %d heard no announcement (datagrams came from %v)", i, rec.sources())
		}
	}
	for _, from := range rec.sources() {
		ua, ok := from.(*net.UDPAddr)
		if !ok || ua.AddrPort().Addr().Unmap() != tb.GatewayLAN {
			continue
		}
		t.Logf("miniupnpd announced from %v", ua)
		if ua.Port != natpmp.Port {
			t.Errorf("miniupnpd announced from port %d, not %d", ua.Port, natpmp.Port)
		}
	}
	select {
	case a := <-other.Announcements():
		t.Fatalf("announcement accepted from the wrong gateway: %+v", a)
	case <-time.After(200 * time.Millisecond):
	}
}
