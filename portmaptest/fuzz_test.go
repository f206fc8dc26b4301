package portmaptest

import (
	"bytes"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/portmap-dev/portmap/natpmp"
	"github.com/portmap-dev/portmap/pcp"
	"github.com/portmap-dev/portmap/upnp"
)

// datagramSeeds are valid and nearly valid requests of every protocol.
func datagramSeeds(t testing.TB) [][]byte {
	var out [][]byte
	for _, r := range []natpmp.Request{
		{Op: natpmp.OpExternalAddress},
		{Op: natpmp.OpMapTCP, InternalPort: 8080, SuggestedExternalPort: 8080, Lifetime: 3600},
		{Op: natpmp.OpMapUDP, InternalPort: 53, Lifetime: 0},
		{Op: natpmp.OpMapUDP},
	} {
		b, err := r.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	lo := netip.MustParseAddr("127.0.0.1")
	for _, r := range []*pcp.Request{
		{Opcode: pcp.OpAnnounce, ClientAddr: lo},
		{Opcode: pcp.OpMap, Lifetime: 3600, ClientAddr: lo, Data: pcp.MapData{Nonce: pcp.Nonce{1}, Protocol: pcp.TCP, InternalPort: 9000, ExternalAddr: netip.IPv4Unspecified()}},
		{Opcode: pcp.OpMap, Lifetime: 0, ClientAddr: lo, Data: pcp.MapData{Nonce: pcp.Nonce{1}, Protocol: pcp.TCP, InternalPort: 9000, ExternalAddr: netip.IPv4Unspecified()}},
		{Opcode: pcp.OpMap, Lifetime: 60, ClientAddr: lo, Data: pcp.MapData{Nonce: pcp.Nonce{2}, Protocol: pcp.UDP, InternalPort: 9001, ExternalPort: 9001, ExternalAddr: netip.IPv4Unspecified()},
			Options: pcp.Options{PreferFailure: true, ThirdParty: netip.MustParseAddr("10.0.0.9"), Filters: []pcp.Filter{{Remote: netip.MustParsePrefix("192.0.2.0/24"), RemotePort: 80}}}},
		{Opcode: pcp.OpPeer, Lifetime: 60, ClientAddr: lo, Data: pcp.MapData{Nonce: pcp.Nonce{3}, Protocol: pcp.UDP, InternalPort: 9002, ExternalAddr: netip.IPv4Unspecified(), RemotePort: 3478, RemoteAddr: netip.MustParseAddr("198.51.100.1")}},
	} {
		b, err := r.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
		v1 := slices.Clone(b)
		v1[0] = 1
		out = append(out, v1)
	}
	for _, st := range []string{"ssdp:all", upnp.STRootDevice, upnp.STIGDv1, upnp.STWANIPConnection, "uuid:x"} {
		out = append(out, []byte(mSearchText(st)))
	}
	return append(out, []byte("NOTIFY * HTTP/1.1\r\n\r\n"), []byte{0}, []byte{2, 0})
}

// FuzzDatagram feeds arbitrary datagrams to the gateway. Whatever it
// receives, it must not crash, and everything it answers must decode with
// the clients' own codecs.
func FuzzDatagram(f *testing.F) {
	for _, s := range datagramSeeds(f) {
		f.Add(s)
	}
	gw := NewGateway(f, WithConfig(Config{MaxMappings: 64}))
	var replies [][]byte
	gw.mu.Lock()
	gw.sendHook = func(_ netip.AddrPort, pkt []byte) { replies = append(replies, slices.Clone(pkt)) }
	gw.mu.Unlock()
	from := netip.MustParseAddrPort("127.0.0.1:9")
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > maxDatagram {
			return
		}
		replies = replies[:0]
		gw.handleDatagram(b, from) // replies are sent before it returns
		for _, reply := range replies {
			switch {
			case reply[0] == 'H':
				if _, err := upnp.ParseSearchResponse(reply); err != nil {
					t.Fatalf("SSDP reply to %q does not parse: %v\n%q", b, err, reply)
				}
			case reply[0] == natpmp.Version && len(b) > 1 && b[0] == 0 && b[1] > byte(natpmp.OpMapTCP):
				// An opcode no client sends: result 5, Unsupported Opcode.
				if len(reply) != 8 || reply[1] != 0x80|b[1] || reply[3] != byte(natpmp.ResultUnsupportedOpcode) {
					t.Fatalf("NAT-PMP reply to % x: % x", b, reply)
				}
			case reply[0] == natpmp.Version && len(b) > 0 && b[0] == 0:
				if _, err := natpmp.ParseResponse(reply); err != nil {
					t.Fatalf("NAT-PMP reply to % x does not parse: %v: % x", b, err, reply)
				}
			case len(b) >= 2 && b[1]&0x7f <= byte(pcp.OpPeer):
				if _, err := pcp.ParseResponse(reply); err != nil {
					t.Fatalf("PCP reply to % x does not parse: %v: % x", b, err, reply)
				}
			default:
				// An opcode no client sends: the reply echoes it (RFC
				// 6887 §8.3), so only its header can be checked.
				if len(reply) != pcp.HeaderLen || reply[0] != pcp.Version || reply[1] != 0x80|b[1] {
					t.Fatalf("PCP reply to % x: % x", b, reply)
				}
			}
		}
		if n := len(gw.Mappings()) + len(gw.Pinholes()); n > 2*64 {
			t.Fatalf("%d entries, above the limits", n)
		}
	})
}

// FuzzParseMSearch checks the SSDP search parser's bounds.
func FuzzParseMSearch(f *testing.F) {
	f.Add([]byte(mSearchText(upnp.STIGDv2)))
	f.Add([]byte("M-SEARCH * HTTP/1.1\nMAN:ssdp:discover\nST:ssdp:all"))
	f.Add([]byte("M-SEARCH * HTTP/1.1\r\nST\r\n\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := parseMSearch(b)
		if err != nil {
			return
		}
		if st == "" || len(st) > maxSTLen || strings.ContainsAny(st, "\n") {
			t.Fatalf("accepted ST %q", st)
		}
	})
}

// FuzzParseSOAPRequest checks that whatever the SOAP parser accepts
// survives an encode/parse round trip unchanged.
func FuzzParseSOAPRequest(f *testing.F) {
	f.Add(soapBody(f, ipConn2, "AddPortMapping", mapArgs("40000", "80", "10.0.0.1", `a<b>&"c"'d ]]>`, "3600")))
	f.Add(soapBody(f, fwCtl1, "GetFirewallStatus", nil))
	f.Add([]byte(`<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Header/><s:Body><u:X xmlns:u="t"><A>&#13;&#x10FFFF;</A></u:X></s:Body></s:Envelope>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		call, err := parseSOAPRequest(b)
		if err != nil {
			return
		}
		if len(call.args) > maxSOAPArgs {
			t.Fatalf("%d arguments", len(call.args))
		}
		again, err := parseSOAPRequest(soapBody(t, call.serviceType, call.action, call.args))
		if err != nil {
			t.Fatalf("re-encoded request does not parse: %v", err)
		}
		if again.action != call.action || again.serviceType != call.serviceType || !slices.Equal(again.args, call.args) {
			t.Fatalf("round trip changed %+v into %+v", call, again)
		}
	})
}

// FuzzSOAPAction runs actions with arbitrary arguments on every service:
// the gateway must not crash, and its replies must be well-formed SOAP
// that carries the output arguments unchanged.
func FuzzSOAPAction(f *testing.F) {
	args := func(a []Arg) string {
		var s []string
		for _, x := range a {
			s = append(s, x.Name+"="+x.Value)
		}
		return strings.Join(s, "\n")
	}
	f.Add(uint8(0), "AddPortMapping", args(mapArgs("40000", "80", "", "d<&>", "0")))
	f.Add(uint8(0), "AddAnyPortMapping", args(mapArgs("*", "80", "10.0.0.1", "x", "60")))
	f.Add(uint8(0), "GetListOfPortMappings", "NewStartPort=1\nNewEndPort=65535\nNewProtocol=TCP\nNewManage=1\nNewNumberOfPorts=0")
	f.Add(uint8(0), "DeletePortMappingRange", "NewStartPort=1\nNewEndPort=65535\nNewProtocol=udp\nNewManage=0")
	f.Add(uint8(0), "GetGenericPortMappingEntry", "NewPortMappingIndex=0")
	f.Add(uint8(1), "AddPinhole", args(pinholeArgs(lanHost6, "60")))
	f.Add(uint8(1), "UpdatePinhole", "UniqueID=1\nNewLeaseTime=10")
	f.Add(uint8(2), "GetTotalBytesSent", "")
	gw := NewGateway(f, WithConfig(Config{MaxMappings: 64}))
	services := gw.devices()
	svcs := []serviceInfo{services[2].services[0], services[2].services[1], services[1].services[0]}
	f.Fuzz(func(t *testing.T, kind uint8, action, argText string) {
		var call soapCall
		call.action = action
		for _, l := range strings.Split(argText, "\n") {
			if k, v, ok := strings.Cut(l, "="); ok && len(call.args) < maxSOAPArgs {
				call.args = append(call.args, Arg{k, v})
			}
		}
		svc := svcs[int(kind)%len(svcs)]
		gw.mu.Lock()
		out, code := gw.soapActionLocked(svc, call, loopback4, gw.now())
		gw.mu.Unlock()
		if code != 0 {
			if fault := encodeSOAPFault(code); !bytes.Contains(fault, []byte("<errorCode>")) {
				t.Fatalf("fault %q", fault)
			}
			return
		}
		reply, err := parseSOAPRequest(encodeSOAPResponse(svc.typ, action, out))
		if err != nil || reply.action != action+"Response" || !slices.Equal(reply.args, out) {
			t.Fatalf("reply %+v, %v; out %+v", reply, err, out)
		}
		if v, ok := argList(out).get("NewPortListing"); ok && !strings.HasPrefix(v, "<p:PortMappingList") {
			t.Fatalf("listing %q", v)
		}
	})
}

// FuzzCallbackURL checks that an accepted GENA callback always points at
// the subscriber.
func FuzzCallbackURL(f *testing.F) {
	f.Add("<http://127.0.0.1:5000/cb>")
	f.Add("<http://[::1]:80/><http://127.0.0.1/>")
	f.Add("<http://127.0.0.1@10.0.0.1/>")
	me := netip.MustParseAddr("127.0.0.1")
	f.Fuzz(func(t *testing.T, h string) {
		u, ok := callbackURL(h, me)
		if !ok {
			return
		}
		if !strings.HasPrefix(u, "http://127.0.0.1") {
			t.Fatalf("callback %q accepted from %q", u, h)
		}
	})
}
