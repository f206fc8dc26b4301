package portmaptest

import (
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portmap-dev/portmap/upnp"
)

func mSearchText(st string) string {
	return "M-SEARCH * HTTP/1.1\r\nHOST: 127.0.0.1:1900\r\nMAN: \"ssdp:discover\"\r\nMX: 1\r\nST: " + st + "\r\n\r\n"
}

func TestParseMSearch(t *testing.T) {
	for _, tc := range []struct {
		name, msg, st string
		ok            bool
	}{
		{"upnpc style", mSearchText(upnp.STIGDv2), upnp.STIGDv2, true},
		{"bare LF, lower-case names", "M-SEARCH * HTTP/1.1\nman: ssdp:discover\nst:ssdp:all\n", "ssdp:all", true},
		{"no MAN", "M-SEARCH * HTTP/1.1\r\nST: ssdp:all\r\n\r\n", "", false},
		{"wrong MAN", "M-SEARCH * HTTP/1.1\r\nMAN: \"ssdp:alive\"\r\nST: ssdp:all\r\n\r\n", "", false},
		{"no ST", "M-SEARCH * HTTP/1.1\r\nMAN: \"ssdp:discover\"\r\n\r\n", "", false},
		{"NOTIFY", "NOTIFY * HTTP/1.1\r\nNT: upnp:rootdevice\r\n\r\n", "", false},
		{"header without colon", "M-SEARCH * HTTP/1.1\r\nMAN \"ssdp:discover\"\r\n\r\n", "", false},
		{"too many headers", "M-SEARCH * HTTP/1.1\r\n" + strings.Repeat("X: y\r\n", maxSSDPHeaders+1), "", false},
		{"ST too long", "M-SEARCH * HTTP/1.1\r\nMAN: \"ssdp:discover\"\r\nST: " + strings.Repeat("a", maxSTLen+1) + "\r\n\r\n", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := parseMSearch([]byte(tc.msg))
			if (err == nil) != tc.ok || st != tc.st {
				t.Fatalf("got %q, %v; want %q ok=%v", st, err, tc.st, tc.ok)
			}
		})
	}
}

func TestSSDPTargets(t *testing.T) {
	gw := NewGateway(t)
	sts := func(st string) []string {
		gw.mu.Lock()
		defer gw.mu.Unlock()
		var out []string
		for _, x := range gw.ssdpTargetsLocked(st) {
			out = append(out, x.st)
			if !strings.HasPrefix(x.usn, "uuid:") {
				t.Errorf("USN %q", x.usn)
			}
		}
		return out
	}
	for _, tc := range []struct {
		st   string
		want []string
	}{
		{upnp.STRootDevice, []string{upnp.STRootDevice}},
		{upnp.STIGDv2, []string{upnp.STIGDv2}},
		{upnp.STIGDv1, []string{upnp.STIGDv1}}, // a v2 device answers a v1 search as v1
		{upnp.STWANIPConnection, []string{upnp.STWANIPConnection}},
		{"urn:schemas-upnp-org:device:InternetGatewayDevice:3", nil},
		{upnp.STWANPPPConnection, nil},
		{"urn:schemas-upnp-org:service:WANIPv6FirewallControl:1", []string{"urn:schemas-upnp-org:service:WANIPv6FirewallControl:1"}},
		{gw.uuids[2], []string{gw.uuids[2]}},
		{"uuid:nobody", nil},
		{"urn:bogus", nil},
	} {
		if got := sts(tc.st); !slices.Equal(got, tc.want) {
			t.Errorf("ST %q: got %q, want %q", tc.st, got, tc.want)
		}
	}
	if all := sts("ssdp:all"); len(all) != 1+3*2+3 {
		t.Errorf("ssdp:all gives %d answers: %q", len(all), all)
	}
}

// TestSSDPReply checks a reply against miniupnpd's, header by header.
func TestSSDPReply(t *testing.T) {
	gw := NewGateway(t)
	reply := rawExchange(t, gw, []byte(mSearchText(upnp.STIGDv2)))
	r, err := upnp.ParseSearchResponse(reply)
	if err != nil {
		t.Fatalf("%v: %q", err, reply)
	}
	if r.ST != upnp.STIGDv2 || r.Location != gw.Location() || r.BootID != 1 || r.ConfigID != configID || r.MaxAge != ssdpMaxAge*time.Second {
		t.Fatalf("reply %+v", r)
	}
	if r.UUID() != gw.uuids[0] || r.USN != gw.uuids[0]+"::"+upnp.STIGDv2 {
		t.Errorf("USN %q", r.USN)
	}
	fixture, err := os.ReadFile(filepath.Join("..", "upnp", "testdata", "ssdp-miniupnpd-2.3.1-response.txt"))
	if err != nil {
		t.Skipf("fixture: %v", err)
	}
	names := func(b []byte) []string {
		var out []string
		for _, l := range strings.Split(string(b), "\r\n") {
			if n, _, ok := strings.Cut(l, ":"); ok {
				out = append(out, n)
			}
		}
		return out
	}
	if got, want := names(reply), names(fixture); !slices.Equal(got, want) {
		t.Errorf("headers %q, miniupnpd sends %q", got, want)
	}
}

func TestSSDPIgnored(t *testing.T) {
	gw := NewGateway(t, WithProtocols(NATPMP, PCP))
	if reply := rawExchange(t, gw, []byte(mSearchText("ssdp:all"))); reply != nil {
		t.Fatalf("UPnP off but answered %q", reply)
	}
	gw2 := NewGateway(t)
	for _, msg := range []string{"NOTIFY * HTTP/1.1\r\n\r\n", "HTTP/1.1 200 OK\r\n\r\n", mSearchText("urn:nothing:here:1")} {
		if reply := rawExchange(t, gw2, []byte(msg)); reply != nil {
			t.Fatalf("%q answered with %q", msg, reply)
		}
	}
	gw2.FailNext("ssdp:search", Drop)
	if reply := rawExchange(t, gw2, []byte(mSearchText("ssdp:all"))); reply != nil {
		t.Fatal("dropped search answered")
	}
}

// TestSSDPAll reads every reply to ssdp:all.
func TestSSDPAll(t *testing.T) {
	gw := NewGateway(t)
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(gw.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(mSearchText("ssdp:all"))); err != nil {
		t.Fatal(err)
	}
	if err := c.SetReadDeadline(time.Now().Add(2 * time.Second)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2048)
	for i := 0; i < 10; i++ {
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("reply %d: %v", i, err)
		}
		if _, err := upnp.ParseSearchResponse(buf[:n]); err != nil {
			t.Fatalf("reply %d: %v", i, err)
		}
	}
}
