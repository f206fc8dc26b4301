//go:build linux

package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portmap-dev/portmap"
	"github.com/portmap-dev/portmap/internal/testbed"
	"github.com/portmap-dev/portmap/pcp"
)

// IPv6 firewall pinholes against miniupnpd 2.3.1, through the root package
// and the portmap command, with UPnP (WANIPv6FirewallControl) and PCP over
// IPv6. Each pinhole is proved end to end: the internet host connects
// straight to [Host6]:port through the gateway's firewall, which drops
// everything not opened. Ports: 47700-47799 (UPnP), 37700-37799 (PCP).

// phRule is how miniupnpd's pinhole to [Host6]:port appears in the
// ruleset ("@nh,192,128" is the IPv6 destination address).
func phRule(tb *testbed.Testbed, port uint16) string {
	return fmt.Sprintf("th dport %d @nh,192,128 0x%x", port, tb.Host6.As16())
}

// phGone waits (at most 15 s) until the gateway's ruleset holds no pinhole
// to port: a PCP pinhole whose deletion miniupnpd refused closes when its
// cut lifetime ends, at the daemon's next clean-up.
func phGone(t *testing.T, tb *testbed.Testbed, port uint16) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		rs := tb.Ruleset(t)
		if !strings.Contains(rs, phRule(tb, port)) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("pinhole to port %d still in the ruleset:\n%s", port, rs)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// phCheck proves the pinhole, trying up to 3 times (on this shared 2-core
// machine one check can exceed its budget under load).
func phCheck(t *testing.T, tb *testbed.Testbed, port uint16) error {
	t.Helper()
	return pcpCheck(t, fmt.Sprintf("tcp6 %d", port), func() error { return tb.CheckTCP6(t, port) })
}

func phCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestPinholeLibrary opens, checks, renews and closes a pinhole with each
// protocol through portmap.Client, discovered on the gateway's IPv4
// address: the client finds the gateway's IPv6 address (the LAN's IPv6
// default router, fd77::1) and this host's (fd77::2) by itself.
func TestPinholeLibrary(t *testing.T) {
	tb := testbed.Get(t)
	for _, tc := range []struct {
		proto portmap.Protocol
		port  uint16
	}{{portmap.UPnP, 47701}, {portmap.PCP, 37701}} {
		t.Run(string(tc.proto), func(t *testing.T) {
			t.Parallel()
			if err := tb.CheckTCP6(t, tc.port); err == nil {
				t.Fatal("IPv6 connection got through before the pinhole")
			}
			ctx := phCtx(t)
			c, err := portmap.Discover(ctx, portmap.Options{Gateway: tb.GatewayLAN, Protocols: []portmap.Protocol{tc.proto}})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			start := time.Now()
			p, err := c.AddPinhole(ctx, portmap.PinholeRequest{InternalPort: tc.port, Lifetime: 10 * time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("AddPinhole took %v", time.Since(start).Round(time.Millisecond))
			deleted := false
			t.Cleanup(func() {
				if !deleted {
					c.DeletePinhole(context.Background(), p)
				}
			})
			if p.Protocol != tc.proto || p.Gateway != tb.GatewayLAN6 || p.Internal != netip.AddrPortFrom(tb.Host6, tc.port) ||
				p.Transport != portmap.TCP || p.Lifetime != 10*time.Minute {
				t.Errorf("pinhole %+v", p)
			}
			if !strings.Contains(tb.Ruleset(t), phRule(tb, tc.port)) {
				t.Errorf("no pinhole rule in the ruleset:\n%s", tb.Ruleset(t))
			}
			if err := phCheck(t, tb, tc.port); err != nil {
				t.Fatalf("pinhole carries no connection: %v", err)
			}

			st, err := c.CheckPinhole(ctx, p)
			switch tc.proto {
			case portmap.UPnP:
				// miniupnpd 2.3.1's nftables backend counts no packets per
				// pinhole: 0 and "not working" although traffic went
				// through. What the check proves is that the ID is known.
				if err != nil {
					t.Errorf("check: %v", err)
				}
				t.Logf("check after traffic: %+v", st)
			case portmap.PCP:
				if !errors.Is(err, portmap.ErrNotSupported) {
					t.Errorf("check over PCP: %+v %v", st, err)
				}
			}

			up, err := c.UpdatePinhole(ctx, p, 2*time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			if up.Lifetime != 2*time.Hour || up.ID != p.ID || up.Internal != p.Internal {
				t.Errorf("updated %+v, was %+v", up, p)
			}
			if err := phCheck(t, tb, tc.port); err != nil {
				t.Fatalf("renewed pinhole carries no connection: %v", err)
			}

			err = c.DeletePinhole(ctx, up)
			if tc.proto == portmap.PCP && errors.Is(err, pcp.ErrLifetimeCut) {
				// miniupnpd 2.3.1 refuses to delete a renewed PCP pinhole.
				t.Logf("miniupnpd quirk: %v", err)
				err = nil
			}
			if err != nil {
				t.Fatal(err)
			}
			deleted = true
			phGone(t, tb, tc.port)
			if err := tb.CheckTCP6(t, tc.port); err == nil {
				t.Error("IPv6 connection got through after delete")
			}
		})
	}
}

// TestPinholeRemoteRestricted: a UPnP pinhole for one remote host lets in
// that host and no other.
func TestPinholeRemoteRestricted(t *testing.T) {
	tb := testbed.Get(t)
	ctx := phCtx(t)
	c, err := portmap.Discover(ctx, portmap.Options{Gateway: tb.GatewayLAN, Protocols: []portmap.Protocol{portmap.UPnP}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, tc := range []struct {
		remote netip.Addr
		port   uint16
		open   bool
	}{{tb.Internet6, 47711, true}, {tb.WAN6, 47712, false}} {
		p, err := c.AddPinhole(ctx, portmap.PinholeRequest{InternalPort: tc.port, RemoteIP: tc.remote, Lifetime: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		if p.RemoteIP() != tc.remote {
			t.Errorf("remote %v, want %v", p.Remote, tc.remote)
		}
		if tc.open {
			err = phCheck(t, tb, tc.port)
		} else if err = tb.CheckTCP6(t, tc.port); err == nil {
			err = errors.New("got through")
		} else {
			err = nil
		}
		if derr := c.DeletePinhole(context.WithoutCancel(ctx), p); derr != nil {
			t.Error(derr)
		}
		if err != nil {
			t.Errorf("pinhole for %v, internet host %v: %v", tc.remote, tb.Internet6, err)
		}
		phGone(t, tb, tc.port)
	}
}

// pinholeOut is the JSON of the pinhole commands.
type pinholeOut struct {
	Protocol        string `json:"protocol"`
	Gateway         string `json:"gateway"`
	ID              int    `json:"id"`
	InternalIP      string `json:"internal_ip"`
	InternalPort    int    `json:"internal_port"`
	RemoteIP        string `json:"remote_ip"`
	RemotePort      int    `json:"remote_port"`
	Transport       string `json:"transport"`
	LifetimeSeconds int    `json:"lifetime_seconds"`
	Working         *bool  `json:"working"`
	Packets         *int   `json:"packets"`
}

// TestPinholeCLI drives `portmap pinhole` with each protocol (auto picks
// PCP on miniupnpd), gateway detected from the LAN's routes.
func TestPinholeCLI(t *testing.T) {
	tb := testbed.Get(t)
	for _, tc := range []struct {
		via, proto string
		port       uint16
	}{{"upnp", "upnp", 47721}, {"pcp", "pcp", 37721}, {"auto", "pcp", 37722}} {
		t.Run(tc.via, func(t *testing.T) {
			t.Parallel()
			port := strconv.Itoa(int(tc.port))
			if err := tb.CheckTCP6(t, tc.port); err == nil {
				t.Fatal("IPv6 connection got through before the pinhole")
			}
			c := newCLI(t)
			r := c.ok("--via", tc.via, "--json", "pinhole", "add", port, "--lifetime", "10m")
			p := decode[pinholeOut](t, r.stdout)
			name := port + "/tcp"
			if tc.proto == "upnp" {
				name = strconv.Itoa(p.ID)
			}
			deleted := false
			t.Cleanup(func() {
				if !deleted {
					c.run("pinhole", "delete", name)
				}
			})
			if p.Protocol != tc.proto || p.Gateway != tb.GatewayLAN6.String() || p.InternalIP != tb.Host6.String() ||
				p.InternalPort != int(tc.port) || p.Transport != "tcp" || p.LifetimeSeconds != 600 || p.RemoteIP != "" ||
				(tc.proto == "upnp") != (p.ID != 0) {
				t.Errorf("add: %s", r.stdout)
			}
			if err := phCheck(t, tb, tc.port); err != nil {
				t.Fatalf("pinhole carries no connection: %v", err)
			}
			list := decode[[]pinholeOut](t, c.ok("--json", "pinhole", "list").stdout)
			if len(list) != 1 || list[0].InternalPort != int(tc.port) {
				t.Errorf("list: %+v", list)
			}
			if tc.proto == "upnp" {
				st := decode[pinholeOut](t, c.ok("--json", "pinhole", "check", name).stdout)
				if st.Working == nil || st.Packets == nil {
					t.Errorf("check: %+v", st)
				}
			} else if r := c.run("pinhole", "check", name); r.code != 1 || !strings.Contains(r.stderr, "pcp cannot check pinholes") {
				t.Errorf("check over pcp: exit %d: %s", r.code, r.stderr)
			}
			up := decode[pinholeOut](t, c.ok("--json", "pinhole", "update", name, "--lifetime", "2h").stdout)
			if up.LifetimeSeconds != 7200 || up.ID != p.ID {
				t.Errorf("update: %+v", up)
			}
			r = c.ok("pinhole", "delete", name)
			deleted = true
			t.Logf("delete: %s%s", r.stdout, r.stderr)
			phGone(t, tb, tc.port)
			if err := tb.CheckTCP6(t, tc.port); err == nil {
				t.Error("IPv6 connection got through after delete")
			}
			if list := decode[[]pinholeOut](t, c.ok("--json", "pinhole", "list").stdout); len(list) != 0 {
				t.Errorf("list after delete: %+v", list)
			}
		})
	}
}

// TestPinholeCLIBadInput: bad command lines exit 2 before any request.
func TestPinholeCLIBadInput(t *testing.T) {
	tb := testbed.Get(t)
	c := newCLI(t)
	for _, args := range [][]string{
		{"pinhole", "add", "0"},
		{"pinhole", "add", "47730", "--to", tb.Host.String()},
		{"pinhole", "add", "47730/sctp"},
		{"pinhole", "add", "47730", "--remote", "11.77.0.2"},
	} {
		if r := c.run(args...); r.code != 2 {
			t.Errorf("portmap %v: exit %d: %s", args, r.code, r.stderr)
		}
	}
}

// TestPinholeCLIIPv6Gateway: with --gateway naming the gateway's IPv6
// address, PCP runs over IPv6 from discovery on. (UPnP is left out: its
// discovery then takes the first SSDP answer, often the one from the
// gateway's IPv4 address, which the root package rejects as another
// device.)
func TestPinholeCLIIPv6Gateway(t *testing.T) {
	tb := testbed.Get(t)
	c := newCLI(t)
	gw := tb.GatewayLAN6.String()
	const port = 37731
	r := c.ok("-g", gw, "--via", "pcp", "--json", "pinhole", "add", strconv.Itoa(port))
	p := decode[pinholeOut](t, r.stdout)
	if p.Protocol != "pcp" || p.Gateway != gw || p.InternalIP != tb.Host6.String() {
		t.Errorf("add: %s", r.stdout)
	}
	if !strings.Contains(tb.Ruleset(t), phRule(tb, port)) {
		t.Errorf("no pinhole rule in the ruleset")
	}
	c.ok("-g", gw, "pinhole", "delete", fmt.Sprintf("%d/tcp", port))
	phGone(t, tb, port)
}
