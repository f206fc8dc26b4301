package upnp

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestParseSearchResponseMiniupnpd(t *testing.T) {
	r, err := ParseSearchResponse([]byte(discFixture(t, "ssdp-miniupnpd-2.3.1-response.txt")))
	if err != nil {
		t.Fatal(err)
	}
	want := SearchResponse{
		ST:       STIGDv2,
		USN:      "uuid:3b4c1d3a-7f1e-4e8e-9a1a-0123456789ab::" + STIGDv2,
		Location: "http://10.77.0.1:5000/rootDesc.xml",
		Server:   "Debian/6.18.44-fc-v769 UPnP/1.1 MiniUPnPd/2.3.1",
		MaxAge:   120 * time.Second,
		BootID:   1795305623,
		ConfigID: 1337,
	}
	if *r != want {
		t.Errorf("got  %+v\nwant %+v", *r, want)
	}
	if r.UUID() != "uuid:3b4c1d3a-7f1e-4e8e-9a1a-0123456789ab" {
		t.Errorf("UUID = %q", r.UUID())
	}
}

func TestParseSearchResponseTolerance(t *testing.T) {
	const loc = "http://192.168.1.1:1900/igd.xml"
	tests := []struct {
		name    string
		msg     string
		wantErr bool
		check   func(*SearchResponse) bool
	}{
		{"lower-case names, no space", "HTTP/1.1 200 OK\r\nlocation:" + loc + "\r\nst:upnp:rootdevice\r\ncache-control:max-age = 1800\r\n\r\n", false,
			func(r *SearchResponse) bool {
				return r.Location == loc && r.ST == STRootDevice && r.MaxAge == 30*time.Minute
			}},
		{"LF line ends, no final blank line", "HTTP/1.1 200 OK\nLOCATION: " + loc + "\nST: x", false,
			func(r *SearchResponse) bool { return r.Location == loc && r.ST == "x" }},
		{"HTTP/1.0 without reason", "HTTP/1.0 200\r\nLocation: " + loc + "\r\n\r\n", false,
			func(r *SearchResponse) bool { return r.Location == loc && r.BootID == -1 && r.ConfigID == -1 }},
		{"extra spaces and tabs", "HTTP/1.1  200 OK\r\nLOCATION :\t " + loc + " \t\r\n\r\n", false,
			func(r *SearchResponse) bool { return r.Location == loc }},
		{"bare EXT line without colon", "HTTP/1.1 200 OK\r\nEXT\r\nLOCATION: " + loc + "\r\n\r\n", false,
			func(r *SearchResponse) bool { return r.Location == loc }},
		{"first duplicate wins", "HTTP/1.1 200 OK\r\nLOCATION: " + loc + "\r\nLOCATION: http://evil/\r\n\r\n", false,
			func(r *SearchResponse) bool { return r.Location == loc }},
		{"no-cache before max-age", "HTTP/1.1 200 OK\r\nLOCATION: " + loc + "\r\nCACHE-CONTROL: no-cache=\"Ext\", max-age=5000\r\n\r\n", false,
			func(r *SearchResponse) bool { return r.MaxAge == 5000*time.Second }},
		{"huge max-age capped", "HTTP/1.1 200 OK\r\nLOCATION: " + loc + "\r\nCACHE-CONTROL: max-age=4000000000\r\n\r\n", false,
			func(r *SearchResponse) bool { return r.MaxAge == 24*time.Hour }},
		{"bad BOOTID", "HTTP/1.1 200 OK\r\nLOCATION: " + loc + "\r\nBOOTID.UPNP.ORG: -5\r\n\r\n", false,
			func(r *SearchResponse) bool { return r.BootID == -1 }},
		{"body after headers ignored", "HTTP/1.1 200 OK\r\nLOCATION: " + loc + "\r\n\r\nST: body\r\n", false,
			func(r *SearchResponse) bool { return r.ST == "" }},
		{"no LOCATION", "HTTP/1.1 200 OK\r\nST: x\r\n\r\n", true, nil},
		{"empty LOCATION", "HTTP/1.1 200 OK\r\nLOCATION:\r\n\r\n", true, nil},
		{"not 200", "HTTP/1.1 404 Not Found\r\nLOCATION: " + loc + "\r\n\r\n", true, nil},
		{"a request", "M-SEARCH * HTTP/1.1\r\nLOCATION: " + loc + "\r\n\r\n", true, nil},
		{"NOTIFY is not a response", "NOTIFY * HTTP/1.1\r\nLOCATION: " + loc + "\r\n\r\n", true, nil},
		{"empty", "", true, nil},
		{"NUL byte", "HTTP/1.1 200 OK\r\nLOCATION: " + loc + "\x00\r\n\r\n", true, nil},
		{"too many headers", "HTTP/1.1 200 OK\r\n" + strings.Repeat("X: y\r\n", maxSSDPHeaders+1) + "LOCATION: " + loc + "\r\n\r\n", true, nil},
		{"too large", "HTTP/1.1 200 OK\r\nLOCATION: " + loc + "\r\nX: " + strings.Repeat("a", maxSSDPDatagram) + "\r\n\r\n", true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ParseSearchResponse([]byte(tt.msg))
			if tt.wantErr {
				if !errors.Is(err, ErrMalformedSSDP) {
					t.Fatalf("err = %v, want ErrMalformedSSDP", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(r) {
				t.Errorf("unexpected %+v", *r)
			}
		})
	}
}

func TestParseNotify(t *testing.T) {
	alive := discFixture(t, "ssdp-miniupnpd-2.3.1-notify-alive.txt")
	tests := []struct {
		name    string
		msg     string
		want    *Notify
		wantErr bool
	}{
		{"miniupnpd alive", alive, &Notify{
			NT: STIGDv2, NTS: NTSAlive, USN: "uuid:3b4c1d3a-7f1e-4e8e-9a1a-0123456789ab::" + STIGDv2,
			Location: "http://10.77.0.1:5000/rootDesc.xml", Server: "Debian/6.18.44-fc-v769 UPnP/1.1 MiniUPnPd/2.3.1",
			MaxAge: 60 * time.Second, BootID: 1795305623, NextBootID: -1, ConfigID: 1337,
		}, false},
		{"byebye", "NOTIFY * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nNT: upnp:rootdevice\r\nNTS: ssdp:byebye\r\nUSN: uuid:abc::upnp:rootdevice\r\nBOOTID.UPNP.ORG: 7\r\n\r\n",
			&Notify{NT: STRootDevice, NTS: NTSByeBye, USN: "uuid:abc::upnp:rootdevice", BootID: 7, NextBootID: -1, ConfigID: -1}, false},
		{"update, odd case", "notify * http/1.1\nnt: upnp:rootdevice\nnts: SSDP:UPDATE\nusn: uuid:abc\nbootid.upnp.org: 7\nnextbootid.upnp.org: 8\n",
			&Notify{NT: STRootDevice, NTS: NTSUpdate, USN: "uuid:abc", BootID: 7, NextBootID: 8, ConfigID: -1}, false},
		{"M-SEARCH is not a NOTIFY", "M-SEARCH * HTTP/1.1\r\nNT: a\r\nNTS: b\r\nUSN: c\r\n\r\n", nil, true},
		{"missing NTS", "NOTIFY * HTTP/1.1\r\nNT: a\r\nUSN: c\r\n\r\n", nil, true},
		{"response", discFixture(t, "ssdp-miniupnpd-2.3.1-response.txt"), nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := ParseNotify([]byte(tt.msg))
			if tt.wantErr {
				if !errors.Is(err, ErrMalformedSSDP) {
					t.Fatalf("err = %v, want ErrMalformedSSDP", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if *n != *tt.want {
				t.Errorf("got  %+v\nwant %+v", *n, *tt.want)
			}
		})
	}
}

func TestMSearch(t *testing.T) {
	got := string(mSearch(SSDPMulticast, "urn:x\r\nEVIL: 1"))
	want := "M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: \"ssdp:discover\"\r\nMX: 1\r\nST: urn:xEVIL: 1\r\nUSER-AGENT: portmap UPnP/1.1\r\n\r\n"
	if got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
	uni := string(mSearch(netip.MustParseAddrPort("10.77.0.1:1900"), STIGDv1))
	if !strings.Contains(uni, "\r\nHOST: 10.77.0.1:1900\r\n") {
		t.Errorf("unicast HOST missing: %q", uni)
	}
}

func TestUSNUUID(t *testing.T) {
	for in, want := range map[string]string{
		"uuid:abc::upnp:rootdevice": "uuid:abc",
		"UUID:abc":                  "UUID:abc",
		"abc::x":                    "",
		"":                          "",
		"uuid":                      "",
	} {
		if got := usnUUID(in); got != want {
			t.Errorf("usnUUID(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzParseSearchResponse(f *testing.F) {
	f.Add([]byte(discFixture(f, "ssdp-miniupnpd-2.3.1-response.txt")))
	f.Add([]byte("HTTP/1.1 200 OK\nlocation:http://1.2.3.4/\ncache-control: max-age=5\n"))
	f.Add([]byte("HTTP/1.1 200\r\nLOCATION: x\r\nBOOTID.UPNP.ORG: 99\r\n\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseSearchResponse(b)
		if err != nil {
			if !errors.Is(err, ErrMalformedSSDP) {
				t.Fatalf("error %v does not wrap ErrMalformedSSDP", err)
			}
			return
		}
		if r.Location == "" || r.MaxAge < 0 || r.MaxAge > 24*time.Hour || r.BootID < -1 || r.ConfigID < -1 {
			t.Fatalf("invalid result %+v", *r)
		}
		if strings.ContainsAny(r.Location, "\r\n") || strings.ContainsAny(r.ST, "\r\n") {
			t.Fatalf("line break in value %+v", *r)
		}
	})
}

func FuzzParseNotify(f *testing.F) {
	f.Add([]byte(discFixture(f, "ssdp-miniupnpd-2.3.1-notify-alive.txt")))
	f.Add([]byte("NOTIFY * HTTP/1.1\nNT: a\nNTS: ssdp:update\nUSN: uuid:x\nNEXTBOOTID.UPNP.ORG: 3\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := ParseNotify(b)
		if err != nil {
			if !errors.Is(err, ErrMalformedSSDP) {
				t.Fatalf("error %v does not wrap ErrMalformedSSDP", err)
			}
			return
		}
		if n.NT == "" || n.NTS == "" || n.USN == "" || n.BootID < -1 || n.NextBootID < -1 {
			t.Fatalf("invalid result %+v", *n)
		}
		// A tracker must cope with whatever parses.
		var bt BootTracker
		bt.Observe(n)
		bt.Observe(n)
	})
}
