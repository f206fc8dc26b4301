//go:build linux

package testbed

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
)

var lossSeq atomic.Int64

// AddLoss makes the gateway drop percent of the packets of transport
// ("udp" or "tcp") addressed to port, in both directions through or into
// the gateway, until the returned function is called. It works without
// netem (absent on these machines): an nftables rule with a random number.
func (tb *Testbed) AddLoss(ctx context.Context, transport string, port uint16, percent int) (remove func() error, err error) {
	if transport != "udp" && transport != "tcp" {
		return nil, fmt.Errorf("testbed: AddLoss: transport %q is not udp or tcp", transport)
	}
	if percent < 0 || percent > 100 {
		return nil, fmt.Errorf("testbed: AddLoss: percent %d out of 0-100", percent)
	}
	table := fmt.Sprintf("loss%d", lossSeq.Add(1))
	// Priority -300 runs before conntrack and NAT, so every packet is a
	// candidate; the input and output hooks cover the gateway's own
	// daemon (NAT-PMP, PCP, UPnP), prerouting covers forwarded traffic.
	chance := fmt.Sprintf("numgen random mod 100 < %d ", percent)
	if percent == 100 {
		chance = "" // nft refuses "< 100" for a value mod 100
	}
	rule := fmt.Sprintf("%s dport %d %sdrop", transport, port, chance)
	replyRule := fmt.Sprintf("%s sport %d %sdrop", transport, port, chance)
	script := fmt.Sprintf(`table inet %[1]s {
	chain in { type filter hook prerouting priority -300; policy accept; %[2]s; }
	chain out { type filter hook output priority -300; policy accept; %[3]s; }
}
`, table, rule, replyRule)
	cmd := tb.GatewayCmd(ctx, "nft", "-f", "-")
	cmd.Stdin = stringReader(script)
	if _, err := output(cmd); err != nil {
		return nil, err
	}
	var once sync.Once
	return func() error {
		var err error
		once.Do(func() {
			_, err = output(tb.GatewayCmd(context.Background(), "nft", "delete", "table", "inet", table))
		})
		return err
	}, nil
}
