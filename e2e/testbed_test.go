//go:build linux

package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portmap-dev/portmap/internal/testbed"
)

// These tests prove the testbed itself with the reference tools, upnpc and
// natpmpc, before any of our code is trusted against it.

func runTool(t *testing.T, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// dnatRule is how miniupnpd's mapping of extPort to Host:lanPort shows in
// the gateway's ruleset.
func dnatRule(tb *testbed.Testbed, extPort, lanPort uint16) string {
	return fmt.Sprintf("th dport %d dnat ip to %s:%d", extPort, tb.Host, lanPort)
}

func TestTestbedUpnpcMapping(t *testing.T) {
	tb := testbed.Get(t)
	const ext, lan = 18080, 8080
	if err := tb.CheckTCP(t, ext, lan); err == nil {
		t.Fatal("a connection got through before any mapping: the gateway's firewall is open")
	}
	out := runTool(t, "upnpc", "-a", tb.Host.String(), strconv.Itoa(lan), strconv.Itoa(ext), "TCP")
	if want := fmt.Sprintf("external %s:%d TCP is redirected to internal %s:%d", tb.WAN, ext, tb.Host, lan); !strings.Contains(out, want) {
		t.Fatalf("upnpc -a did not report %q:\n%s", want, out)
	}
	if rs := tb.Ruleset(t); !strings.Contains(rs, dnatRule(tb, ext, lan)) {
		t.Fatalf("gateway ruleset has no %q:\n%s", dnatRule(tb, ext, lan), rs)
	}
	if err := tb.CheckTCP(t, ext, lan); err != nil {
		t.Fatalf("mapping made by upnpc carries no connection: %v", err)
	}
	runTool(t, "upnpc", "-d", strconv.Itoa(ext), "TCP")
	if rs := tb.Ruleset(t); strings.Contains(rs, dnatRule(tb, ext, lan)) {
		t.Fatalf("rule still there after upnpc -d:\n%s", rs)
	}
	if err := tb.CheckTCP(t, ext, lan); err == nil {
		t.Fatal("a connection got through after the mapping was deleted")
	}
}

func TestTestbedNatpmpcMapping(t *testing.T) {
	tb := testbed.Get(t)
	const ext, lan = 19090, 9090
	gw := tb.GatewayLAN.String()
	out := runTool(t, "natpmpc", "-g", gw, "-a", strconv.Itoa(ext), strconv.Itoa(lan), "tcp", "600")
	if want := fmt.Sprintf("Mapped public port %d protocol TCP to local port %d", ext, lan); !strings.Contains(out, want) {
		t.Fatalf("natpmpc -a did not report %q:\n%s", want, out)
	}
	if err := tb.CheckTCP(t, ext, lan); err != nil {
		t.Fatalf("mapping made by natpmpc carries no connection: %v", err)
	}
	outU := runTool(t, "natpmpc", "-g", gw, "-a", strconv.Itoa(ext), strconv.Itoa(lan), "udp", "600")
	if !strings.Contains(outU, "protocol UDP") {
		t.Fatalf("natpmpc -a udp:\n%s", outU)
	}
	if err := tb.CheckUDP(t, ext, lan); err != nil {
		t.Fatalf("UDP mapping made by natpmpc carries no datagram: %v", err)
	}
	runTool(t, "natpmpc", "-g", gw, "-a", strconv.Itoa(ext), strconv.Itoa(lan), "tcp", "0")
	if err := tb.CheckTCP(t, ext, lan); err == nil {
		t.Fatal("a connection got through after natpmpc deleted the mapping")
	}
}

func TestTestbedRestartLosesMappings(t *testing.T) {
	tb := testbed.Get(t)
	const ext, lan = 19191, 9191
	runTool(t, "natpmpc", "-g", tb.GatewayLAN.String(), "-a", strconv.Itoa(ext), strconv.Itoa(lan), "tcp", "600")
	if !strings.Contains(tb.Ruleset(t), dnatRule(tb, ext, lan)) {
		t.Fatal("natpmpc mapping not in the ruleset")
	}
	oldPID, err := tb.GatewayPID()
	if err != nil {
		t.Fatal(err)
	}
	tb.RestartGateway(t)
	newPID, err := tb.GatewayPID()
	if err != nil {
		t.Fatalf("miniupnpd not running after restart: %v", err)
	}
	if newPID == oldPID {
		t.Fatalf("miniupnpd pid %d unchanged by a restart", newPID)
	}
	if rs := tb.Ruleset(t); strings.Contains(rs, dnatRule(tb, ext, lan)) {
		t.Fatalf("mapping survived the reboot:\n%s", rs)
	}
	// The new daemon serves: a fresh mapping works.
	out := runTool(t, "natpmpc", "-g", tb.GatewayLAN.String(), "-a", strconv.Itoa(ext), strconv.Itoa(lan), "tcp", "600")
	if !strings.Contains(out, "Mapped public port") {
		t.Fatalf("natpmpc after restart:\n%s", out)
	}
	if err := tb.CheckTCP(t, ext, lan); err != nil {
		t.Fatal(err)
	}
}

func TestTestbedLossInjection(t *testing.T) {
	tb := testbed.Get(t)
	remove := tb.InjectLoss(t, "tcp", 19292, 100)
	if rs := tb.Ruleset(t); !strings.Contains(rs, "tcp dport 19292") {
		t.Fatalf("loss rule not in the ruleset:\n%s", rs)
	}
	runTool(t, "natpmpc", "-g", tb.GatewayLAN.String(), "-a", "19292", "9292", "tcp", "600")
	if err := tb.CheckTCP(t, 19292, 9292); err == nil {
		t.Fatal("a connection got through 100% loss")
	}
	remove()
	if rs := tb.Ruleset(t); strings.Contains(rs, "tcp dport 19292") {
		t.Fatalf("loss rule still there after remove:\n%s", rs)
	}
	if err := tb.CheckTCP(t, 19292, 9292); err != nil {
		t.Fatalf("after removing the loss: %v", err)
	}
}
