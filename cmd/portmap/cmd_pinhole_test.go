package main

import (
	"encoding/json"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portmap-dev/portmap"
	"github.com/portmap-dev/portmap/portmaptest"
)

// newRun6 starts the fake gateway on [::1] (pinholes need IPv6) in secure
// mode, as miniupnpd runs: pinhole requests only from the pinhole's address.
func newRun6(t *testing.T, opts ...portmaptest.Option) *portmapRun {
	t.Helper()
	if ln, err := net.Listen("tcp6", "[::1]:0"); err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	} else {
		ln.Close()
	}
	opts = append([]portmaptest.Option{portmaptest.WithListen(netip.MustParseAddrPort("[::1]:0")), portmaptest.WithSecureMode()}, opts...)
	return newRun(t, opts...)
}

func decodeJSON[T any](t *testing.T, s string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("not the JSON expected (%v): %s", err, s)
	}
	return v
}

func TestPinholeCommands(t *testing.T) {
	for _, via := range []string{"upnp", "pcp", "auto"} {
		t.Run(via, func(t *testing.T) {
			r := newRun6(t)
			out, errs, code := r.run("--via", via, "--json", "pinhole", "add", "8080/udp", "--remote", "[2001:db8::7]:4000")
			if code != 0 {
				t.Fatalf("add: exit %d: %s", code, errs)
			}
			p := decodeJSON[pinholeJSON](t, out)
			proto := portmap.Protocol(via)
			if via == "auto" {
				proto = portmap.PCP // preferred when both answer
			}
			if p.Protocol != proto || p.Gateway != "::1" || p.InternalIP != "::1" || p.InternalPort != 8080 || p.Transport != "udp" ||
				p.RemoteIP != "2001:db8::7" || p.RemotePort != 4000 || p.LifetimeSeconds != 3600 || p.Expires == "" {
				t.Errorf("add: %+v", p)
			}
			for _, key := range []string{`"protocol"`, `"gateway"`, `"id"`, `"internal_ip"`, `"internal_port"`, `"remote_ip"`, `"remote_port"`, `"transport"`, `"lifetime_seconds"`} {
				if !strings.Contains(out, key) {
					t.Errorf("add --json lacks %s: %s", key, out)
				}
			}
			gps := r.gw.Pinholes()
			if len(gps) != 1 || gps[0].InternalPort != 8080 || gps[0].IPProtocol != 17 {
				t.Fatalf("gateway holds %+v", gps)
			}
			name := "8080/udp"
			if proto == portmap.UPnP {
				if p.ID != gps[0].ID || p.ID == 0 {
					t.Errorf("ID %d, gateway's %d", p.ID, gps[0].ID)
				}
				if gps[0].RemoteHost != netip.MustParseAddr("2001:db8::7") || gps[0].RemotePort != 4000 {
					t.Errorf("remote not passed on: %+v", gps[0])
				}
				name = "1"
			}

			out, _, code = r.run("--json", "pinhole", "list")
			if list := decodeJSON[[]pinholeJSON](t, out); code != 0 || len(list) != 1 || list[0].InternalPort != 8080 {
				t.Errorf("list: exit %d: %s", code, out)
			}

			out, errs, code = r.run("--json", "pinhole", "check", name)
			switch proto {
			case portmap.UPnP:
				st := decodeJSON[pinholeJSON](t, out)
				if code != 0 || st.Working == nil || *st.Working || st.Packets == nil || *st.Packets != 0 {
					t.Errorf("check: exit %d: %s %s", code, out, errs)
				}
			default:
				if code != 1 || !strings.Contains(errs, "pcp cannot check pinholes") {
					t.Errorf("check over pcp: exit %d: %s", code, errs)
				}
			}

			// --via auto finds the protocol in the record.
			if _, errs, code = r.run("pinhole", "update", name, "--lifetime", "2h"); code != 0 {
				t.Fatalf("update: exit %d: %s", code, errs)
			}
			if gps := r.gw.Pinholes(); len(gps) != 1 || gps[0].Lifetime != 2*time.Hour {
				t.Errorf("after update the gateway holds %+v", gps)
			}
			out, errs, code = r.run("pinhole", "delete", name)
			if code != 0 || !strings.HasPrefix(out, "deleted pinhole "+name) {
				t.Fatalf("delete: exit %d: %s %s", code, out, errs)
			}
			if gps := r.gw.Pinholes(); len(gps) != 0 {
				t.Errorf("left in the gateway: %+v", gps)
			}
			out, errs, code = r.run("--json", "pinhole", "list")
			if code != 0 || strings.TrimSpace(out) != "[]" {
				t.Errorf("list after delete: exit %d: %q %s", code, out, errs)
			}
		})
	}
}

func TestPinholeTextOutput(t *testing.T) {
	r := newRun6(t)
	out, errs, code := r.run("--via", "upnp", "pinhole", "add", "8080")
	if want := "opened pinhole 1: tcp to [::1]:8080 from anyone, via upnp (gateway ::1), lifetime 1h0m0s\n"; code != 0 || out != want {
		t.Errorf("add: exit %d %q %s; want %q", code, out, errs, want)
	}
	r.gw.SetPinholePackets(1, 3)
	if out, _, _ := r.run("pinhole", "check", "1"); out != "pinhole 1: open, working, 3 packets\n" {
		t.Errorf("check: %q", out)
	}
	out, _, _ = r.run("pinhole", "list")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 2 || !strings.HasPrefix(lines[0], "NAME") ||
		!strings.Contains(lines[1], "[::1]:8080") || !strings.Contains(lines[1], "anyone") {
		t.Errorf("list:\n%s", out)
	}
	if _, errs, code := r.run("pinhole", "delete", "1"); code != 0 {
		t.Errorf("delete: exit %d: %s", code, errs)
	}
	if _, errs, _ := r.run("pinhole", "list"); !strings.Contains(errs, "no pinholes recorded") {
		t.Errorf("empty list says %q", errs)
	}
}

func TestPinholeUsageErrors(t *testing.T) {
	r := newRun6(t)
	tests := []struct {
		args []string
		says string
	}{
		{[]string{"pinhole"}, "missing pinhole command"},
		{[]string{"pinhole", "add"}, "needs one port"},
		{[]string{"pinhole", "add", "0"}, "invalid port"},
		{[]string{"pinhole", "add", "80:81"}, "invalid port"},
		{[]string{"pinhole", "add", "80/sctp"}, "unknown transport"},
		{[]string{"pinhole", "add", "80", "--to", "10.0.0.5"}, "not an IPv6 address"},
		{[]string{"pinhole", "add", "80", "--to", "::ffff:10.0.0.5"}, "not an IPv6 address"},
		{[]string{"pinhole", "add", "80", "--to", "fe80::5"}, "cannot be reached"},
		{[]string{"pinhole", "add", "80", "--remote", "203.0.113.1"}, "IPv6"},
		{[]string{"pinhole", "add", "80", "--remote", "[2001:db8::1]:0"}, "port 0"},
		{[]string{"pinhole", "add", "80", "--remote", "nonsense"}, "--remote"},
		{[]string{"pinhole", "add", "80", "--lifetime", "-1s"}, "negative"},
		{[]string{"--via", "pcp", "pinhole", "add", "80", "--remote", ":443"}, "not by port alone"},
		{[]string{"pinhole", "update", "1", "--lifetime", "-1h"}, "negative"},
		{[]string{"pinhole", "update"}, "needs the pinhole's ID"},
		{[]string{"pinhole", "delete", "x"}, "names no pinhole"},
		{[]string{"pinhole", "delete", "0"}, "names no pinhole"},
		{[]string{"pinhole", "delete", "80/sctp"}, "unknown transport"},
		{[]string{"pinhole", "check", "1", "2"}, "needs the pinhole's ID"},
		{[]string{"--via", "pcp", "pinhole", "delete", "1"}, "opened with upnp"},
	}
	r.gw.ClearRequests()
	for _, tt := range tests {
		_, errs, code := r.run(tt.args...)
		if code != 2 || !strings.Contains(errs, tt.says) || strings.Count(errs, "\n") != 1 {
			t.Errorf("portmap %v: exit %d, stderr %q; want exit 2 saying %q", tt.args, code, errs, tt.says)
		}
	}
	for _, req := range r.gw.Requests() {
		if req.Action != "ssdp:search" && req.Action != "http:description" && req.Action != "GetExternalIPAddress" &&
			req.Action != "GetStatusInfo" && req.Action != "pcp:announce" && req.Action != "natpmp:address" {
			t.Errorf("a bad command line reached the gateway: %s", req.Action)
		}
	}
}

func TestPinholeRefusals(t *testing.T) {
	r := newRun6(t)
	if _, errs, code := r.run("--via", "natpmp", "pinhole", "add", "80"); code != 1 || !strings.Contains(errs, "natpmp cannot open IPv6 pinholes") {
		t.Errorf("natpmp: exit %d: %s", code, errs)
	}
	r.gw.FailNext("AddPinhole", 702)
	if _, errs, code := r.run("--via", "upnp", "pinhole", "add", "80"); code != 1 || !strings.Contains(errs, "702 FirewallDisabled") {
		t.Errorf("702: exit %d: %s", code, errs)
	}
	// No record of a port: PCP needs the nonce, UPnP the ID.
	if _, errs, code := r.run("pinhole", "delete", "80/tcp"); code != 1 || !strings.Contains(errs, "no record") {
		t.Errorf("unrecorded port: exit %d: %s", code, errs)
	}
	// A UPnP ID the gateway does not know: its own error code.
	if _, errs, code := r.run("pinhole", "check", "99"); code != 1 || !strings.Contains(errs, "704") {
		t.Errorf("unknown ID: exit %d: %s", code, errs)
	}
}

// TestPinholeByIDWithoutRecord: a UPnP pinhole is found by its ID alone
// (opened by another program, or with another state file).
func TestPinholeByIDWithoutRecord(t *testing.T) {
	r := newRun6(t)
	if _, errs, code := r.run("--via", "upnp", "pinhole", "add", "9000"); code != 0 {
		t.Fatalf("add: exit %d: %s", code, errs)
	}
	r.state = filepath.Join(t.TempDir(), "mappings.json")
	out, errs, code := r.run("pinhole", "update", "1", "--lifetime", "2h")
	if want := "renewed pinhole 1 (not recorded by portmap), via upnp (gateway ::1), lifetime 2h0m0s\n"; code != 0 || out != want {
		t.Errorf("update by ID without record: exit %d: %q %s; want %q", code, out, errs, want)
	}
	if out, _, _ := r.run("--json", "pinhole", "list"); strings.TrimSpace(out) != "[]" {
		t.Errorf("a pinhole known by its ID alone was recorded: %s", out)
	}
	out, errs, code = r.run("pinhole", "delete", "1")
	if code != 0 || out != "deleted pinhole 1\n" {
		t.Fatalf("delete by ID without record: exit %d: %q %s", code, out, errs)
	}
	if gps := r.gw.Pinholes(); len(gps) != 0 {
		t.Errorf("left in the gateway: %+v", gps)
	}
}

// TestPinholeRecordFile: the record lives beside mappings.json, and
// expired pinholes drop out of it.
func TestPinholeRecordFile(t *testing.T) {
	r := newRun6(t)
	if _, errs, code := r.run("--via", "upnp", "pinhole", "add", "9000", "--lifetime", "1m"); code != 0 {
		t.Fatalf("add: exit %d: %s", code, errs)
	}
	path := filepath.Join(filepath.Dir(r.state), "pinholes.json")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var ps []portmap.Pinhole
	if err := json.Unmarshal(b, &ps); err != nil || len(ps) != 1 || ps[0].ID != 1 {
		t.Fatalf("record %s: %v", b, err)
	}
	ps = append(ps, portmap.Pinhole{Protocol: portmap.UPnP, ID: 2, Transport: portmap.TCP,
		Internal: netip.MustParseAddrPort("[::1]:9001"), Expires: time.Now().Add(-time.Minute)})
	b, _ = json.Marshal(ps)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	out, _, _ := r.run("--json", "pinhole", "list")
	if list := decodeJSON[[]pinholeJSON](t, out); len(list) != 1 || list[0].ID != 1 {
		t.Errorf("list shows %s", out)
	}
	if err := os.WriteFile(path, []byte("{broken"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, errs, code := r.run("pinhole", "list"); code != 1 || !strings.Contains(errs, "damaged") {
		t.Errorf("damaged record: exit %d: %s", code, errs)
	}
}

func TestParseRemote(t *testing.T) {
	tests := []struct {
		in   string
		ip   string
		port uint16
		ok   bool
	}{
		{"2001:db8::1", "2001:db8::1", 0, true},
		{"[2001:db8::1]:443", "2001:db8::1", 443, true},
		{":443", "", 443, true},
		{"192.0.2.1", "", 0, false},
		{"192.0.2.1:80", "", 0, false},
		{":0", "", 0, false},
		{":x", "", 0, false},
		{"[2001:db8::1]:0", "", 0, false},
		{"host:80", "", 0, false},
	}
	for _, tt := range tests {
		ip, port, err := parseRemote(tt.in)
		if (err == nil) != tt.ok || (tt.ok && (addrString(ip) != tt.ip || port != tt.port)) {
			t.Errorf("parseRemote(%q) = %v %d %v", tt.in, ip, port, err)
		}
		if err != nil && exitCode(&cmdError{err}) != exitUsage {
			t.Errorf("parseRemote(%q): %v is not a usage error", tt.in, err)
		}
	}
}

func FuzzParsePinholeName(f *testing.F) {
	for _, s := range []string{"1", "65535", "0", "8080/tcp", "53/UDP", "x", "1/sctp", "/tcp", "70000", "-1", "+5", "08/tcp"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := parsePinholeName(s)
		if err != nil {
			if exitCode(&cmdError{err}) != exitUsage {
				t.Fatalf("%q: %v is not a usage error", s, err)
			}
			return
		}
		if (r.id == 0) == (r.port == 0) {
			t.Fatalf("%q: %+v names neither or both", s, r)
		}
		back, err := parsePinholeName(r.String())
		if err != nil || back != r {
			t.Fatalf("%q -> %+v -> %q -> %+v %v", s, r, r.String(), back, err)
		}
	})
}

func FuzzParseRemote(f *testing.F) {
	for _, s := range []string{"2001:db8::1", "[2001:db8::1]:443", ":443", "192.0.2.1", "[::ffff:1.2.3.4]:5", "[fe80::1%eth0]:80", ":", "[", "::"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ip, port, err := parseRemote(s)
		if err != nil {
			if exitCode(&cmdError{err}) != exitUsage {
				t.Fatalf("%q: %v is not a usage error", s, err)
			}
			return
		}
		if ip.IsValid() && (!ip.Is6() || ip.Is4In6()) {
			t.Fatalf("%q: remote %v is not IPv6", s, ip)
		}
		if !ip.IsValid() && port == 0 {
			t.Fatalf("%q: accepted as neither address nor port", s)
		}
	})
}

// FuzzPinholeRecord: whatever the record file holds, decoding it fails
// cleanly or gives pinholes that encode and decode back the same.
func FuzzPinholeRecord(f *testing.F) {
	f.Add([]byte(`[{"protocol":"upnp","gateway":"fd77::1","id":3,"transport":"tcp","internal":"[fd77::2]:80","remote":"[::]:443","lifetime":3600000000000,"expires":"2999-01-01T00:00:00Z"}]`))
	f.Add([]byte(`[{"protocol":"pcp","gateway":"fe80::1%eth0","nonce":"AAECAwQFBgcICQoL","transport":"udp","internal":"[2001:db8::2]:53","lifetime":120000000000}]`))
	f.Add([]byte(`[{"protocol":"upnp","id":1,"expires":"2000-01-01T00:00:00Z"}]`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{`))
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, b []byte) {
		ps, err := parsePinholeRecord(b, now)
		if err != nil {
			return
		}
		for _, p := range ps {
			if !p.Expires.IsZero() && !p.Expires.After(now) {
				t.Fatalf("expired pinhole kept: %+v", p)
			}
		}
		out, err := json.Marshal(ps)
		if err != nil {
			t.Fatal(err)
		}
		again, err := parsePinholeRecord(out, now)
		if err != nil || len(again) != len(ps) {
			t.Fatalf("encoded %d pinholes as %s, decoded %d: %v", len(ps), out, len(again), err)
		}
		for i := range ps {
			if pinholeKey(ps[i]) != pinholeKey(again[i]) || ps[i].Remote != again[i].Remote || string(ps[i].Nonce) != string(again[i].Nonce) {
				t.Fatalf("pinhole %d: %+v decoded back as %+v", i, ps[i], again[i])
			}
		}
	})
}
