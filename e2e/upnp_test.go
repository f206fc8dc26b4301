//go:build linux

package e2e

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portmap-dev/portmap/internal/testbed"
	"github.com/portmap-dev/portmap/upnp"
)

// UPnP control (SOAP) against miniupnpd 2.3.1. Ports used here: 40000-44999.

// ctlIGD discovers the testbed's IGD (unicast search to the gateway).
func ctlIGD(t *testing.T, tb *testbed.Testbed) *upnp.IGD {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	igd, err := upnp.Discover(ctx, upnp.DiscoverOptions{Gateway: tb.GatewayLAN})
	if err != nil {
		t.Fatalf("discover: %v", err)
	}
	if igd.WAN == nil || igd.WAN.Version != 2 {
		t.Fatalf("WAN service %+v", igd.WAN)
	}
	return igd
}

func ctlCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

// ctlMapping is a mapping from this host's ext port to lan port.
func ctlMapping(tb *testbed.Testbed, proto string, ext, lan uint16, desc string) upnp.PortMapping {
	return upnp.PortMapping{ExternalPort: ext, Protocol: proto, InternalPort: lan, InternalClient: tb.Host,
		Enabled: true, Description: desc, LeaseDuration: time.Hour}
}

// ctlAdd adds pm and deletes it at the end of the test.
func ctlAdd(t *testing.T, wan *upnp.WANConnection, pm upnp.PortMapping) {
	t.Helper()
	if err := wan.AddPortMapping(ctlCtx(t, 5*time.Second), pm); err != nil {
		t.Fatalf("add %d/%s: %v", pm.ExternalPort, pm.Protocol, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		wan.DeletePortMapping(ctx, pm.RemoteHost, pm.ExternalPort, pm.Protocol)
	})
}

func ctlRootDesc(tb *testbed.Testbed) string {
	return fmt.Sprintf("http://%s:%d/rootDesc.xml", tb.GatewayLAN, tb.HTTPPort)
}

// upnpc runs miniupnpc's client against the testbed's description URL
// (-u skips its 2 s SSDP wait).
func upnpc(t *testing.T, tb *testbed.Testbed, args ...string) string {
	t.Helper()
	ctx := ctlCtx(t, 60*time.Second)
	out, err := exec.CommandContext(ctx, "upnpc", append([]string{"-u", ctlRootDesc(tb)}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("upnpc %v: %v\n%s", args, err, out)
	}
	return string(out)
}

func ctlFind(list []upnp.PortMapping, port uint16, proto string) (upnp.PortMapping, bool) {
	for _, pm := range list {
		if pm.ExternalPort == port && pm.Protocol == proto {
			return pm, true
		}
	}
	return upnp.PortMapping{}, false
}

func ctlAlive(t *testing.T, tb *testbed.Testbed) {
	t.Helper()
	if !tb.GatewayAlive() {
		t.Fatal("miniupnpd died")
	}
}

func TestUPnPControlStatus(t *testing.T) {
	tb := testbed.Get(t)
	igd := ctlIGD(t, tb)
	ctx := ctlCtx(t, 10*time.Second)
	ip, err := igd.WAN.GetExternalIPAddress(ctx)
	if err != nil || ip != tb.WAN {
		t.Fatalf("external IP %v, %v; want %v", ip, err, tb.WAN)
	}
	st, err := igd.WAN.GetStatusInfo(ctx)
	if err != nil || !st.Connected() {
		t.Fatalf("status %+v %v", st, err)
	}
	ct, err := igd.WAN.GetConnectionTypeInfo(ctx)
	if err != nil || ct.ConnectionType != "IP_Routed" {
		t.Fatalf("connection type %+v %v", ct, err)
	}
	if igd.CommonInterface == nil {
		t.Fatal("no WANCommonInterfaceConfig")
	}
	cic := upnp.NewCommonInterfaceConfig(*igd.CommonInterface, nil)
	lp, err := cic.GetCommonLinkProperties(ctx)
	if err != nil || lp.PhysicalLinkStatus != "Up" {
		t.Fatalf("link %+v %v", lp, err)
	}
	c, err := cic.GetCounters(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("link %+v, counters %+v", lp, c)
	// A WANIPConnection:2 action the device lacks is a typed fault.
	if _, err := upnp.NewWANConnection(upnp.Service{Type: "urn:schemas-upnp-org:service:WANIPConnection:2", ControlURL: igd.WAN.Service.ControlURL}, nil).
		GetSpecificPortMappingEntry(ctx, netip.Addr{}, 44999, "UDP"); !errors.Is(err, upnp.ErrNoSuchEntryInArray) {
		t.Fatalf("missing entry: %v", err)
	}
}

func TestUPnPControlAddListDelete(t *testing.T) {
	tb := testbed.Get(t)
	wan := ctlIGD(t, tb).WAN
	ctx := ctlCtx(t, 30*time.Second)
	tcp := ctlMapping(tb, "tcp", 40010, 40011, "portmap e2e tcp") // lower case on purpose: sent as TCP
	udp := ctlMapping(tb, "UDP", 40012, 40013, "portmap e2e udp")
	ctlAdd(t, wan, tcp)
	ctlAdd(t, wan, udp)
	if err := tb.CheckTCP(t, 40010, 40011); err != nil {
		t.Fatal(err)
	}
	if err := tb.CheckUDP(t, 40012, 40013); err != nil {
		t.Fatal(err)
	}
	got, err := wan.GetSpecificPortMappingEntry(ctx, netip.Addr{}, 40010, "TCP")
	if err != nil || got.InternalPort != 40011 || got.InternalClient != tb.Host || got.Description != tcp.Description ||
		got.LeaseDuration <= 0 || got.LeaseDuration > time.Hour || !got.Enabled {
		t.Fatalf("specific %+v %v", got, err)
	}
	list, err := wan.ListPortMappings(ctx, upnp.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if pm, ok := ctlFind(list, 40010, "TCP"); !ok || pm.InternalPort != 40011 {
		t.Fatalf("TCP mapping not listed: %+v", list)
	}
	if pm, ok := ctlFind(list, 40012, "UDP"); !ok || pm.InternalPort != 40013 {
		t.Fatalf("UDP mapping not listed: %+v", list)
	}
	if err := wan.DeletePortMapping(ctx, netip.Addr{}, 40010, "TCP"); err != nil {
		t.Fatal(err)
	}
	if _, err := wan.GetSpecificPortMappingEntry(ctx, netip.Addr{}, 40010, "TCP"); !errors.Is(err, upnp.ErrNoSuchEntryInArray) {
		t.Fatalf("after delete: %v", err)
	}
	if err := tb.CheckTCP(t, 40010, 40011); err == nil {
		t.Fatal("deleted mapping still forwards")
	}
}

func TestUPnPControlDescriptionRoundTrip(t *testing.T) {
	tb := testbed.Get(t)
	wan := ctlIGD(t, tb).WAN
	ctx := ctlCtx(t, 30*time.Second)
	const desc = `<&>"' ]]> <x/> &amp; é`
	ctlAdd(t, wan, ctlMapping(tb, "TCP", 40020, 40020, desc))
	got, err := wan.GetSpecificPortMappingEntry(ctx, netip.Addr{}, 40020, "TCP")
	if err != nil || got.Description != desc {
		t.Fatalf("GetSpecificPortMappingEntry: %q %v", got.Description, err)
	}
	list, err := wan.GetListOfPortMappings(ctx, 40020, 40020, "TCP", false, 10)
	if err != nil || len(list) != 1 || list[0].Description != desc {
		t.Fatalf("GetListOfPortMappings: %+v %v", list, err)
	}
	found := false
	for i := 0; i < 1000 && !found; i++ {
		pm, err := wan.GetGenericPortMappingEntry(ctx, i)
		if errors.Is(err, upnp.ErrSpecifiedArrayIndexInvalid) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if pm.ExternalPort == 40020 && pm.Protocol == "TCP" {
			found = true
			if pm.Description != desc {
				t.Fatalf("GetGenericPortMappingEntry: %q", pm.Description)
			}
		}
	}
	if !found {
		t.Fatal("not found by GetGenericPortMappingEntry")
	}
	// upnpc prints descriptions as they are on the wire (miniupnpc does
	// not decode XML entities): it must show exactly our escaped bytes.
	var esc strings.Builder
	xml.EscapeText(&esc, []byte(desc))
	if out := upnpc(t, tb, "-l"); !strings.Contains(out, "'"+esc.String()+"'") {
		t.Fatalf("upnpc -l does not show %q:\n%s", esc.String(), out)
	}
}

func TestUPnPControlConflictAddAny(t *testing.T) {
	tb := testbed.Get(t)
	igd := ctlIGD(t, tb)
	wan := igd.WAN
	ctx := ctlCtx(t, 30*time.Second)
	// Another LAN host (a second address on this host) maps 40030 first.
	// miniupnpd runs with secure_mode, so it must ask from that address.
	other := netip.MustParseAddr("10.77.0.3")
	prefix := netip.PrefixFrom(other, 24).String()
	if out, err := exec.CommandContext(ctx, "ip", "addr", "add", prefix, "dev", tb.LANInterface, "nodad").CombinedOutput(); err != nil {
		t.Fatalf("ip addr add: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "addr", "del", prefix, "dev", tb.LANInterface).Run() })
	otherHC := upnp.NewHTTPClient(other)
	t.Cleanup(otherHC.CloseIdleConnections)
	otherWAN := upnp.NewWANConnection(wan.Service, otherHC)
	theirs := upnp.PortMapping{ExternalPort: 40030, Protocol: "TCP", InternalPort: 40030, InternalClient: other,
		Enabled: true, Description: "other host", LeaseDuration: time.Hour}
	ctlAdd(t, otherWAN, theirs)

	mine := ctlMapping(tb, "TCP", 40030, 40031, "mine")
	err := wan.AddPortMapping(ctx, mine)
	var se *upnp.SOAPError
	if !errors.Is(err, upnp.ErrConflictInMappingEntry) || !errors.As(err, &se) || se.Code != 718 || se.Name() != "ConflictInMappingEntry" {
		t.Fatalf("AddPortMapping on a taken port: %v", err)
	}
	// Without permission to move, the helper reports the conflict clearly.
	if _, err := wan.AddPortMappingWithFallbacks(ctx, mine, upnp.AddOptions{}); !errors.Is(err, upnp.ErrConflictInMappingEntry) ||
		!strings.Contains(err.Error(), "40030/TCP") {
		t.Fatalf("fallback without AnyPortOnConflict: %v", err)
	}
	res, err := wan.AddPortMappingWithFallbacks(ctx, mine, upnp.AddOptions{AnyPortOnConflict: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { wan.DeletePortMapping(context.Background(), netip.Addr{}, res.ExternalPort, "TCP") })
	if !res.UsedAddAny || res.ExternalPort == 40030 || res.ExternalPort == 0 || res.Permanent {
		t.Fatalf("result %+v", res)
	}
	t.Logf("AddAnyPortMapping chose %d", res.ExternalPort)
	if err := tb.CheckTCP(t, res.ExternalPort, 40031); err != nil {
		t.Fatal(err)
	}
	// The other host's mapping is untouched.
	got, err := wan.GetSpecificPortMappingEntry(ctx, netip.Addr{}, 40030, "TCP")
	if err != nil || got.InternalClient != other {
		t.Fatalf("other mapping %+v %v", got, err)
	}
}

func TestUPnPControlRangeDelete(t *testing.T) {
	tb := testbed.Get(t)
	wan := ctlIGD(t, tb).WAN
	ctx := ctlCtx(t, 30*time.Second)
	for p := uint16(40100); p < 40110; p++ {
		ctlAdd(t, wan, ctlMapping(tb, "UDP", p, p, "range"))
	}
	ctlAdd(t, wan, ctlMapping(tb, "TCP", 40105, 40105, "other protocol"))
	ctlAdd(t, wan, ctlMapping(tb, "UDP", 40110, 40110, "outside"))
	if err := wan.DeletePortMappingRange(ctx, 40100, 40109, "UDP", false); err != nil {
		t.Fatal(err)
	}
	list, err := wan.ListPortMappings(ctx, upnp.ListOptions{StartPort: 40100, EndPort: 40110})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 {
		t.Fatalf("left: %+v", list)
	}
	if _, ok := ctlFind(list, 40105, "TCP"); !ok {
		t.Error("TCP 40105 deleted")
	}
	if _, ok := ctlFind(list, 40110, "UDP"); !ok {
		t.Error("UDP 40110 deleted")
	}
	if err := wan.DeletePortMappingRange(ctx, 40100, 40109, "UDP", false); !errors.Is(err, upnp.ErrPortMappingNotFound) {
		t.Fatalf("second range delete: %v", err)
	}
}

func TestUPnPControlList200(t *testing.T) {
	tb := testbed.Get(t)
	wan := ctlIGD(t, tb).WAN
	ctx := ctlCtx(t, 300*time.Second)
	const n = 200
	// miniupnpd 2.3.1 (nftables) answers every request in time growing
	// with its table: about 0.4 s each at 200 rules, so adding takes
	// about 100 s.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		wan.DeletePortMappingRange(ctx, 41000, 41000+n-1, "TCP", false)
		wan.DeletePortMapping(ctx, netip.Addr{}, 42000, "UDP")
	})
	start := time.Now()
	for i := range n {
		p := uint16(41000 + i)
		if err := wan.AddPortMapping(ctx, ctlMapping(tb, "TCP", p, p, "bulk "+strconv.Itoa(i))); err != nil {
			t.Fatalf("add %d: %v", p, err)
		}
	}
	if err := wan.AddPortMapping(ctx, ctlMapping(tb, "UDP", 42000, 42000, "udp one")); err != nil {
		t.Fatal(err)
	}
	t.Logf("added %d mappings in %v", n+1, time.Since(start).Round(time.Millisecond))

	// upnp.MaxSafePerReply is exact: one range of 128 entries is listed
	// and the daemon lives on.
	edge, err := wan.GetListOfPortMappings(ctx, 41000, 41000+upnp.MaxSafePerReply-1, "TCP", false, 1000)
	if err != nil || len(edge) != upnp.MaxSafePerReply {
		t.Fatalf("listing a range of %d entries: %d, %v", upnp.MaxSafePerReply, len(edge), err)
	}
	ctlAlive(t, tb)

	var calls atomic.Int64 // the lister sends some requests concurrently
	counting := &http.Client{Transport: countingTransport{&calls, http.DefaultTransport}}
	cwan := upnp.NewWANConnection(wan.Service, counting)
	for _, per := range []int{0, upnp.MaxSafePerReply} {
		calls.Store(0)
		start = time.Now()
		list, err := cwan.ListPortMappings(ctx, upnp.ListOptions{MaxPerReply: per})
		took := time.Since(start)
		if err != nil {
			t.Fatal(err)
		}
		ctlAlive(t, tb)
		t.Logf("ListPortMappings (MaxPerReply %d): %d mappings in %v, %d SOAP requests", per, len(list), took.Round(time.Millisecond), calls.Load())
		checkBulk(t, tb, list, n)
	}
	// Deleting the 200 in one DeletePortMappingRange request would crash
	// miniupnpd too; ours splits it.
	calls.Store(0)
	start = time.Now()
	if err := cwan.DeletePortMappingRange(ctx, 41000, 41000+n-1, "TCP", false); err != nil {
		t.Fatal(err)
	}
	t.Logf("DeletePortMappingRange of %d: %v, %d SOAP requests", n, time.Since(start).Round(time.Millisecond), calls.Load())
	ctlAlive(t, tb)
	left, err := wan.ListPortMappings(ctx, upnp.ListOptions{StartPort: 41000, EndPort: 42000})
	if err != nil || len(left) != 1 || left[0].ExternalPort != 42000 {
		t.Fatalf("left after range delete: %+v %v", left, err)
	}
}

type countingTransport struct {
	n  *atomic.Int64
	rt http.RoundTripper
}

func (c countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.rt.RoundTrip(r)
}

func TestUPnPControlPinhole(t *testing.T) {
	tb := testbed.Get(t)
	igd := ctlIGD(t, tb)
	if igd.Firewall == nil {
		t.Fatal("no WANIPv6FirewallControl")
	}
	ctx := ctlCtx(t, 60*time.Second)
	const port = 40200
	if err := tb.CheckTCP6(t, port); err == nil {
		t.Fatal("the IPv6 firewall lets traffic in without a pinhole")
	}
	p := upnp.Pinhole{InternalClient: tb.Host6, InternalPort: port, Protocol: "TCP", LeaseTime: time.Hour}
	// Over IPv4 (the description's control URL) miniupnpd refuses.
	if _, err := igd.Firewall.AddPinhole(ctx, p); !errors.Is(err, upnp.ErrActionNotAuthorized) {
		t.Fatalf("AddPinhole over IPv4: %v", err)
	}
	fw, err := upnp.NewFirewallControlIPv6(igd.Firewall.Service, tb.GatewayLAN6, tb.Host6)
	if err != nil {
		t.Fatal(err)
	}
	st, err := fw.GetFirewallStatus(ctx)
	if err != nil || !st.FirewallEnabled || !st.InboundPinholeAllowed {
		t.Fatalf("firewall status %+v %v", st, err)
	}
	id, err := fw.AddPinhole(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	deleted := false
	t.Cleanup(func() {
		if !deleted {
			fw.DeletePinhole(context.Background(), id)
		}
	})
	if _, err := fw.CheckPinholeWorking(ctx, id); !errors.Is(err, upnp.ErrNoPacketSent) {
		t.Fatalf("CheckPinholeWorking before traffic: %v", err)
	}
	if err := tb.CheckTCP6(t, port); err != nil {
		t.Fatal(err)
	}
	// miniupnpd 2.3.1's nftables backend keeps no per-pinhole counters:
	// packets stay 0 and CheckPinholeWorking says 709 NoPacketSent even
	// though traffic went through (CheckTCP6 above proved it).
	pk, err := fw.GetPinholePackets(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	working, err := fw.CheckPinholeWorking(ctx, id)
	if err != nil && !errors.Is(err, upnp.ErrNoPacketSent) {
		t.Fatal(err)
	}
	t.Logf("after traffic: GetPinholePackets %d, CheckPinholeWorking %v %v", pk, working, err)
	if err := fw.UpdatePinhole(ctx, id, 2*time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := fw.DeletePinhole(ctx, id); err != nil {
		t.Fatal(err)
	}
	deleted = true
	if err := tb.CheckTCP6(t, port); err == nil {
		t.Fatal("deleted pinhole still lets traffic in")
	}
}

// upnpcHas reports whether `upnpc -l` printed the mapping, in a line like
//
//	3 TCP 40300->10.77.0.2:40301 'desc' '' 3599
func upnpcHas(out, proto string, ext uint16, host netip.Addr, lan uint16, desc string) bool {
	want := fmt.Sprintf("%s %d->%s:%d", proto, ext, host, lan)
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, want) && strings.Contains(line, "'"+desc+"'") {
			return true
		}
	}
	return false
}

func TestUPnPControlUpnpcCrossCheck(t *testing.T) {
	tb := testbed.Get(t)
	wan := ctlIGD(t, tb).WAN
	ctx := ctlCtx(t, 60*time.Second)
	// What we add, upnpc lists.
	ctlAdd(t, wan, ctlMapping(tb, "TCP", 40300, 40301, "added by portmap"))
	if out := upnpc(t, tb, "-l"); !upnpcHas(out, "TCP", 40300, tb.Host, 40301, "added by portmap") {
		t.Fatalf("upnpc -l misses our mapping:\n%s", out)
	}
	// What upnpc adds, we list.
	upnpc(t, tb, "-e", "added by upnpc", "-a", tb.Host.String(), "40311", "40310", "UDP", "3600")
	t.Cleanup(func() { wan.DeletePortMapping(context.Background(), netip.Addr{}, 40310, "UDP") })
	list, err := wan.ListPortMappings(ctx, upnp.ListOptions{StartPort: 40300, EndPort: 40399})
	if err != nil {
		t.Fatal(err)
	}
	pm, ok := ctlFind(list, 40310, "UDP")
	if !ok || pm.InternalPort != 40311 || pm.InternalClient != tb.Host || pm.Description != "added by upnpc" ||
		pm.LeaseDuration <= 0 || pm.LeaseDuration > time.Hour {
		t.Fatalf("upnpc's mapping: %+v (list %+v)", pm, list)
	}
	if _, ok := ctlFind(list, 40300, "TCP"); !ok {
		t.Fatal("our mapping missing from our list")
	}
	// What we delete, upnpc no longer lists.
	if err := wan.DeletePortMapping(ctx, netip.Addr{}, 40310, "UDP"); err != nil {
		t.Fatal(err)
	}
	if out := upnpc(t, tb, "-l"); strings.Contains(out, "40310->") {
		t.Fatalf("upnpc still lists the deleted mapping:\n%s", out)
	}
}

// checkBulk checks that list holds the n bulk TCP mappings of
// TestUPnPControlList200 and its UDP one.
func checkBulk(t *testing.T, tb *testbed.Testbed, list []upnp.PortMapping, n int) {
	t.Helper()
	bulk := 0
	for _, pm := range list {
		if pm.Protocol == "TCP" && pm.ExternalPort >= 41000 && pm.ExternalPort < 41000+uint16(n) {
			bulk++
			if pm.Description != "bulk "+strconv.Itoa(int(pm.ExternalPort-41000)) || pm.InternalClient != tb.Host {
				t.Fatalf("entry %+v", pm)
			}
		}
	}
	if bulk != n {
		t.Fatalf("listed %d of the %d bulk mappings", bulk, n)
	}
	if _, ok := ctlFind(list, 42000, "UDP"); !ok {
		t.Fatal("UDP mapping missing")
	}
}
