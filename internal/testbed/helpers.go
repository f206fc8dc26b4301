//go:build linux

package testbed

import (
	"context"
	"testing"
	"time"
)

// Test helpers: the operations of the context-taking methods, bounded in
// time, failing the test where the operation itself (not the network under
// test) broke, and undone at the end of the test where that makes sense.

// testTimeout bounds every helper below.
const testTimeout = 30 * time.Second

func testContext(t testing.TB) (context.Context, context.CancelFunc) {
	return context.WithTimeout(t.Context(), testTimeout)
}

// CheckTCP proves a TCP mapping from WAN:extPort to Host:lanPort end to
// end (see [Testbed.VerifyTCP]); the error says what did not get through.
func (tb *Testbed) CheckTCP(t testing.TB, extPort, lanPort uint16) error {
	t.Helper()
	ctx, cancel := testContext(t)
	defer cancel()
	return tb.VerifyTCP(ctx, extPort, lanPort)
}

// CheckTCP6 proves an IPv6 pinhole to [Host6]:lanPort (see [Testbed.VerifyTCP6]).
func (tb *Testbed) CheckTCP6(t testing.TB, lanPort uint16) error {
	t.Helper()
	ctx, cancel := testContext(t)
	defer cancel()
	return tb.VerifyTCP6(ctx, lanPort)
}

// CheckUDP proves a UDP mapping end to end (see [Testbed.VerifyUDP]).
func (tb *Testbed) CheckUDP(t testing.TB, extPort, lanPort uint16) error {
	t.Helper()
	ctx, cancel := testContext(t)
	defer cancel()
	return tb.VerifyUDP(ctx, extPort, lanPort)
}

// RestartGateway simulates a gateway reboot (see [Testbed.Restart]).
func (tb *Testbed) RestartGateway(t testing.TB, opts ...RestartOption) {
	t.Helper()
	ctx, cancel := testContext(t)
	defer cancel()
	if err := tb.Restart(ctx, opts...); err != nil {
		t.Fatal(err)
	}
}

// InjectLoss makes the gateway drop percent of the packets of transport to
// or from port (see [Testbed.AddLoss]) until the returned function is
// called or the test ends.
func (tb *Testbed) InjectLoss(t testing.TB, transport string, port uint16, percent int) (remove func()) {
	t.Helper()
	ctx, cancel := testContext(t)
	defer cancel()
	undo, err := tb.AddLoss(ctx, transport, port, percent)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { undo() })
	return func() {
		if err := undo(); err != nil {
			t.Error(err)
		}
	}
}

// Ruleset returns the gateway's nftables ruleset as text.
func (tb *Testbed) Ruleset(t testing.TB) string {
	t.Helper()
	ctx, cancel := testContext(t)
	defer cancel()
	rs, err := tb.ReadRuleset(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}
