//go:build linux

package e2e

import (
	"bufio"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/portmap-dev/portmap"
	"github.com/portmap-dev/portmap/internal/testbed"
)

// portmap.Listen against miniupnpd: a connection from the internet host
// reaches the listener through its mapping, which is gone after Close.
func TestListenReachableFromInternet(t *testing.T) {
	tb := testbed.Get(t)
	for _, p := range portmap.Protocols {
		t.Run(string(p), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			lc := portmap.ListenConfig{Options: portmap.Options{Gateway: tb.GatewayLAN, Protocols: []portmap.Protocol{p}}}
			ln, err := lc.Listen(ctx, "tcp4", ":0")
			if err != nil {
				t.Fatal(err)
			}
			ext := ln.ExternalAddr()
			if ext.Addr() != tb.WAN {
				ln.Close()
				t.Fatalf("ExternalAddr() = %s, want the gateway's %s", ext, tb.WAN)
			}
			got := make(chan string, 1)
			go func() {
				c, err := ln.Accept()
				if err != nil {
					got <- err.Error()
					return
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				line, _ := bufio.NewReader(c).ReadString('\n')
				fmt.Fprintf(c, "hello %s", line)
				got <- strings.TrimSpace(line)
			}()
			script := fmt.Sprintf(`exec 3<>/dev/tcp/%s/%d && printf 'from-internet\n' >&3 && timeout 5 head -c 100 <&3`, ext.Addr(), ext.Port())
			out, err := tb.InternetCmd(ctx, "bash", "-c", script).CombinedOutput()
			if err != nil || !strings.Contains(string(out), "hello from-internet") {
				t.Errorf("internet host through %s: %v, %q", ext, err, out)
			}
			if line := <-got; line != "from-internet" {
				t.Errorf("listener read %q", line)
			}
			rule := fmt.Sprintf("dport %d dnat", ext.Port())
			if !strings.Contains(tb.Ruleset(t), rule) {
				t.Error("no mapping in the gateway while the listener is open")
			}
			ln.Close()
			if strings.Contains(tb.Ruleset(t), rule) {
				t.Error("the mapping outlived the listener")
			}
		})
	}
}
