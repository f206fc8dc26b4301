//go:build linux

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portmap-dev/portmap/internal/testbed"
)

// The portmap command against miniupnpd, with each protocol: every command
// of the CLI contract, its JSON checked against the gateway's ruleset and a
// real connection through each mapping.

var (
	cliOnce sync.Once
	cliPath string
	cliErr  error
)

// portmapCLI builds the command once per test binary.
func portmapCLI(t *testing.T) string {
	t.Helper()
	cliOnce.Do(func() {
		dir, err := os.MkdirTemp("", "portmap-e2e-")
		if err != nil {
			cliErr = err
			return
		}
		cliPath = filepath.Join(dir, "portmap")
		out, err := exec.Command("go", "build", "-o", cliPath, "../cmd/portmap").CombinedOutput()
		if err != nil {
			cliErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if cliErr != nil {
		t.Fatal(cliErr)
	}
	return cliPath
}

// cli runs portmap with a state file and cache of the test's own.
type cli struct {
	t     *testing.T
	bin   string
	state string
	env   []string
}

func newCLI(t *testing.T) *cli {
	dir := t.TempDir()
	return &cli{
		t:     t,
		bin:   portmapCLI(t),
		state: filepath.Join(dir, "mappings.json"),
		env:   append(os.Environ(), "XDG_CACHE_HOME="+filepath.Join(dir, "cache"), "PORTMAP_GATEWAY="),
	}
}

type result struct {
	stdout, stderr string
	code           int
}

func (c *cli) run(args ...string) result {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.bin, append([]string{"--state", c.state}, args...)...)
	cmd.Env = c.env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		c.t.Fatalf("portmap %s: %v", strings.Join(args, " "), err)
	}
	return result{stdout.String(), stderr.String(), code}
}

// ok runs portmap and fails the test unless it exits 0.
func (c *cli) ok(args ...string) result {
	c.t.Helper()
	r := c.run(args...)
	if r.code != 0 {
		c.t.Fatalf("portmap %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

type mappingOut struct {
	Protocol        string `json:"protocol"`
	Gateway         string `json:"gateway"`
	ExternalIP      string `json:"external_ip"`
	ExternalPort    int    `json:"external_port"`
	InternalIP      string `json:"internal_ip"`
	InternalPort    int    `json:"internal_port"`
	Transport       string `json:"transport"`
	LifetimeSeconds int    `json:"lifetime_seconds"`
	Description     string `json:"description"`
}

func decode[T any](t *testing.T, s string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("output is not the JSON expected (%v):\n%s", err, s)
	}
	return v
}

// dnat is how a mapping of ext to Host:lan appears in the ruleset.
func dnat(tb *testbed.Testbed, transport string, ext, lan int) string {
	proto := map[string]string{"tcp": "0x6", "udp": "0x11"}[transport]
	return fmt.Sprintf("@nh,72,8 %s th dport %d dnat ip to %s:%d", proto, ext, tb.Host, lan)
}

var vias = []struct {
	via      string
	protocol string // what auto must choose on miniupnpd
	base     int    // port block of the test
}{
	{"upnp", "upnp", 20100},
	{"natpmp", "natpmp", 20200},
	{"pcp", "pcp", 20300},
	{"auto", "pcp", 20400},
}

func TestCLIAddListDelete(t *testing.T) {
	tb := testbed.Get(t)
	for _, v := range vias {
		t.Run(v.via, func(t *testing.T) {
			c := newCLI(t)
			g := []string{"--gateway", tb.GatewayLAN.String(), "--via", v.via, "--json"}

			ip := decode[map[string]string](t, c.ok(append(g, "ip")...).stdout)
			if ip["external_ip"] != tb.WAN.String() {
				t.Errorf("ip: %v, want %s", ip, tb.WAN)
			}

			ext, lan := v.base+1, v.base+2
			m := decode[mappingOut](t, c.ok(append(g, "add", fmt.Sprintf("%d:%d", ext, lan), "--lifetime", "1h", "--description", "e2e "+v.via)...).stdout)
			want := mappingOut{Protocol: v.protocol, Gateway: tb.GatewayLAN.String(), ExternalIP: tb.WAN.String(), ExternalPort: ext,
				InternalIP: tb.Host.String(), InternalPort: lan, Transport: "tcp", LifetimeSeconds: m.LifetimeSeconds, Description: m.Description}
			if m != want {
				t.Errorf("add: got %+v\nwant %+v", m, want)
			}
			if m.LifetimeSeconds <= 0 || m.LifetimeSeconds > 3600 {
				t.Errorf("add: lifetime %d s, asked for 3600", m.LifetimeSeconds)
			}
			if !strings.Contains(tb.Ruleset(t), dnat(tb, "tcp", ext, lan)) {
				t.Fatalf("add: no %q in the gateway's ruleset:\n%s", dnat(tb, "tcp", ext, lan), tb.Ruleset(t))
			}
			if err := tb.CheckTCP(t, uint16(ext), uint16(lan)); err != nil {
				t.Fatalf("add: the mapping carries no connection: %v", err)
			}

			// Without EXT: the same port as INT, over UDP.
			udp := v.base + 3
			mu := decode[mappingOut](t, c.ok(append(g, "add", fmt.Sprintf("%d/udp", udp))...).stdout)
			if mu.ExternalPort != udp || mu.Transport != "udp" {
				t.Errorf("add %d/udp: got %+v", udp, mu)
			}
			if err := tb.CheckUDP(t, uint16(udp), uint16(udp)); err != nil {
				t.Fatalf("add udp: %v", err)
			}

			list := decode[[]mappingOut](t, c.ok(append(g, "list", "--mine")...).stdout)
			found := 0
			for _, l := range list {
				if (l.ExternalPort == ext && l.InternalPort == lan && l.Transport == "tcp") || (l.ExternalPort == udp && l.Transport == "udp") {
					found++
				}
				if l.InternalIP != tb.Host.String() {
					t.Errorf("list --mine shows a mapping to %s", l.InternalIP)
				}
			}
			if found != 2 {
				t.Errorf("list: found %d of our 2 mappings in %+v", found, list)
			}

			c.ok(append(g, "delete", strconv.Itoa(ext))...)
			c.ok(append(g, "delete", fmt.Sprintf("%d/udp", udp))...)
			rs := tb.Ruleset(t)
			for _, rule := range []string{dnat(tb, "tcp", ext, lan), dnat(tb, "udp", udp, udp)} {
				if strings.Contains(rs, rule) {
					t.Errorf("delete: %q still in the ruleset", rule)
				}
			}
			if err := tb.CheckTCP(t, uint16(ext), uint16(lan)); err == nil {
				t.Error("delete: a connection still gets through")
			}
		})
	}
}

func TestCLIDeleteAllAndRange(t *testing.T) {
	tb := testbed.Get(t)
	for _, v := range vias {
		t.Run(v.via, func(t *testing.T) {
			c := newCLI(t)
			g := []string{"--gateway", tb.GatewayLAN.String(), "--via", v.via}
			base := v.base + 50
			for i := range 4 {
				c.ok(append(g, "add", strconv.Itoa(base+i))...)
			}
			for i := range 4 {
				if !strings.Contains(tb.Ruleset(t), dnat(tb, "tcp", base+i, base+i)) {
					t.Fatalf("mapping %d missing after add", base+i)
				}
			}
			c.ok(append(g, "delete", "--range", fmt.Sprintf("%d-%d/tcp", base, base+1))...)
			rs := tb.Ruleset(t)
			for i := range 4 {
				has := strings.Contains(rs, dnat(tb, "tcp", base+i, base+i))
				if has != (i >= 2) {
					t.Errorf("after --range %d-%d: port %d present=%v", base, base+1, base+i, has)
				}
			}
			c.ok(append(g, "delete", "--all", "--mine")...)
			rs = tb.Ruleset(t)
			for i := range 4 {
				if strings.Contains(rs, dnat(tb, "tcp", base+i, base+i)) {
					t.Errorf("after --all --mine: port %d still mapped", base+i)
				}
			}
		})
	}
}

func TestCLIDiscover(t *testing.T) {
	tb := testbed.Get(t)
	c := newCLI(t)
	type gw struct {
		Address    string   `json:"address"`
		Protocols  []string `json:"protocols"`
		ExternalIP string   `json:"external_ip"`
	}
	out := decode[struct{ Gateways []gw }](t, c.ok("--json", "--gateway", tb.GatewayLAN.String(), "discover").stdout)
	if len(out.Gateways) != 1 {
		t.Fatalf("discover: %d gateways, want 1: %+v", len(out.Gateways), out)
	}
	g := out.Gateways[0]
	if g.Address != tb.GatewayLAN.String() || g.ExternalIP != tb.WAN.String() || strings.Join(g.Protocols, ",") != "pcp,natpmp,upnp" {
		t.Errorf("discover: %+v", g)
	}
	// The default gateway is found without --gateway.
	out = decode[struct{ Gateways []gw }](t, c.ok("--json", "discover").stdout)
	if len(out.Gateways) != 1 || out.Gateways[0].Address != tb.GatewayLAN.String() {
		t.Errorf("discover without --gateway: %+v", out)
	}
	text := c.ok("discover").stdout
	for _, want := range []string{tb.GatewayLAN.String(), tb.WAN.String(), "upnp", "natpmp", "pcp"} {
		if !strings.Contains(text, want) {
			t.Errorf("discover text lacks %q:\n%s", want, text)
		}
	}
}

func TestCLIBadInput(t *testing.T) {
	tb := testbed.Get(t)
	c := newCLI(t)
	before := tb.Ruleset(t)
	g := []string{"--gateway", tb.GatewayLAN.String()}
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"add", "0"}, 2},
		{[]string{"add", "65536"}, 2},
		{[]string{"add", "abc"}, 2},
		{[]string{"add", "8080/sctp"}, 2},
		{[]string{"add"}, 2},
		{[]string{"add", "8080", "--to", "not-an-ip"}, 2},
		{[]string{"delete"}, 2},
		{[]string{"delete", "--all", "--range", "1-2"}, 2},
		{[]string{"--via", "carrier-pigeon", "ip"}, 2},
		{[]string{"--bogus", "ip"}, 2},
		{[]string{"frobnicate"}, 2},
		// Nothing answers at an address on the LAN where no host is.
		{[]string{"--gateway", "10.77.0.99", "--timeout", "1s", "add", "8080"}, 3},
	} {
		r := c.run(append(g, tc.args...)...)
		if r.code != tc.code {
			t.Errorf("portmap %s: exit %d, want %d (stderr %q)", strings.Join(tc.args, " "), r.code, tc.code, r.stderr)
		}
		lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
		if len(lines) != 1 || !strings.HasPrefix(lines[0], "portmap: ") {
			t.Errorf("portmap %s: stderr is not one 'portmap: ' line: %q", strings.Join(tc.args, " "), r.stderr)
		}
		if strings.Contains(r.stderr, "panic") || strings.Contains(r.stderr, "goroutine") {
			t.Errorf("portmap %s panicked: %s", strings.Join(tc.args, " "), r.stderr)
		}
	}
	if after := tb.Ruleset(t); after != before {
		t.Errorf("bad input changed the gateway's ruleset:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// A "gateway" that answers every protocol with garbage: a clear error, exit
// 3 (no gateway answered usefully), nothing mapped.
func TestCLIGarbageGateway(t *testing.T) {
	tb := testbed.Get(t)
	c := newCLI(t)
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	port := pc.LocalAddr().(*net.UDPAddr).Port
	ln, err := net.Listen("tcp4", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		buf := make([]byte, 2048)
		for {
			_, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo([]byte("\x02\xff garbage \x00\x01"), from)
		}
	}()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			conn.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n<<<<<"))
			conn.Close()
		}
	}()
	before := tb.Ruleset(t)
	r := c.run("--gateway", fmt.Sprintf("127.0.0.1:%d", port), "--timeout", "2s", "add", "20999")
	if r.code != 3 {
		t.Errorf("garbage gateway: exit %d, want 3; stderr %q", r.code, r.stderr)
	}
	if n := strings.Count(strings.TrimSpace(r.stderr), "\n"); n != 0 || !strings.HasPrefix(r.stderr, "portmap: ") {
		t.Errorf("garbage gateway: stderr not one line: %q", r.stderr)
	}
	if after := tb.Ruleset(t); after != before {
		t.Error("garbage gateway: the real gateway's ruleset changed")
	}
}
