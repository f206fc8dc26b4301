package upnp

import (
	"errors"
	"net/netip"
	"net/url"
	"strings"
	"testing"
)

// descServices flattens a description into "type controlURL" lines.
func descServices(d *Description) []string {
	var out []string
	d.Root.walk(nil, func(path []*Device) {
		for _, s := range path[len(path)-1].Services {
			c := "<nil>"
			if s.ControlURL != nil {
				c = s.ControlURL.String()
			}
			out = append(out, s.Type+" "+c)
		}
	})
	return out
}

func TestParseDescriptionFixtures(t *testing.T) {
	const gw = "http://192.168.1.1:5431"
	tests := []struct {
		file     string
		location string
		rootType string
		name     string
		services []string
	}{
		{miniupnpdDesc, "http://10.77.0.1:5000/rootDesc.xml", "urn:schemas-upnp-org:device:InternetGatewayDevice:2", "Debian router", []string{
			"urn:schemas-upnp-org:service:Layer3Forwarding:1 http://10.77.0.1:5000/ctl/L3F",
			"urn:schemas-upnp-org:service:DeviceProtection:1 http://10.77.0.1:5000/ctl/DP",
			"urn:schemas-upnp-org:service:WANCommonInterfaceConfig:1 http://10.77.0.1:5000/ctl/CmnIfCfg",
			"urn:schemas-upnp-org:service:WANIPConnection:2 http://10.77.0.1:5000/ctl/IPConn",
			"urn:schemas-upnp-org:service:WANIPv6FirewallControl:1 http://10.77.0.1:5000/ctl/IP6FCtl",
		}},
		{"desc-urlbase.xml", gw + "/dyndev/desc.xml", "urn:schemas-upnp-org:device:InternetGatewayDevice:1", "Linksys Café Router", []string{
			"urn:schemas-upnp-org:service:WANCommonInterfaceConfig:1 " + gw + "/upnp/control/WANCommonInterfaceConfig",
			"urn:schemas-upnp-org:service:WANIPConnection:1 " + gw + "/uuid:0000e068-20a0-00e0-20a0-48a802086049/WANIPConnection:1",
		}},
		{"desc-dslforum.xml", "http://192.168.178.1:49000/tr64desc.xml", "urn:dslforum-org:device:InternetGatewayDevice:1", "FRITZ!Box 7590", []string{
			"urn:dslforum-org:service:DeviceInfo:1 http://192.168.178.1:49000/upnp/control/deviceinfo",
			"urn:dslforum-org:service:WANCommonInterfaceConfig:1 http://192.168.178.1:49000/upnp/control/wancommonifconfig1",
			"urn:dslforum-org:service:WANPPPConnection:1 http://192.168.178.1:49000/upnp/control/wanpppconn1",
			"urn:dslforum-org:service:WANIPConnection:1 http://192.168.178.1:49000/upnp/control/wanipconnection1",
		}},
		{"desc-igd1-ppp.xml", "http://192.168.2.1:49000/igd.xml", "urn:schemas-upnp-org:device:InternetGatewayDevice:1", "Speedport W 724V & Co", []string{
			"urn:schemas-upnp-org:service:WANPPPConnection:1 http://192.168.2.1:49000/upnp/control/WANPPPConn1",
		}},
		{"desc-two-wan-connection-devices.xml", "http://192.168.1.1:5000/Public_UPNP_gatedesc.xml", "urn:schemas-upnp-org:device:InternetGatewayDevice:1", "DGN Test Router", []string{
			"urn:schemas-upnp-org:service:Layer3Forwarding:1 http://192.168.1.1:5000/Public_UPNP_C1",
			"urn:schemas-upnp-org:service:WANCommonInterfaceConfig:1 http://192.168.1.1:5000/Public_UPNP_C2",
			"urn:schemas-upnp-org:service:WANPPPConnection:1 http://192.168.1.1:5000/Public_UPNP_C3",
			"urn:schemas-upnp-org:service:WANIPConnection:1 http://192.168.1.1:5000/Public_UPNP_C4",
		}},
		{"desc-offhost-control.xml", "http://192.168.1.1/d.xml", "urn:schemas-upnp-org:device:InternetGatewayDevice:1", "", []string{
			"urn:schemas-upnp-org:service:WANIPConnection:1 http://203.0.113.7:80/ctl/IPConn",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			body := strings.ReplaceAll(discFixture(t, tt.file), "{{BASE}}", gw)
			loc, _ := url.Parse(tt.location)
			d, err := ParseDescription([]byte(body), loc)
			if err != nil {
				t.Fatal(err)
			}
			if d.Root.DeviceType != tt.rootType || d.Root.FriendlyName != tt.name {
				t.Errorf("root = %q %q", d.Root.DeviceType, d.Root.FriendlyName)
			}
			got := descServices(d)
			if strings.Join(got, "\n") != strings.Join(tt.services, "\n") {
				t.Errorf("services:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.services, "\n"))
			}
		})
	}
}

func TestParseDescriptionURLBase(t *testing.T) {
	loc, _ := url.Parse("http://10.0.0.1:80/desc.xml")
	tests := []struct {
		name, urlBase, ref, want string
	}{
		{"no URLBase: relative to location", "", "ctl/x", "http://10.0.0.1:80/ctl/x"},
		{"URLBase with path", "http://10.0.0.1:5431/dyn/", "ctl/x", "http://10.0.0.1:5431/dyn/ctl/x"},
		{"absolute path ignores URLBase path", "http://10.0.0.1:5431/dyn/", "/ctl/x", "http://10.0.0.1:5431/ctl/x"},
		{"absolute URL kept", "http://10.0.0.1:5431/", "http://10.0.0.1:6000/c", "http://10.0.0.1:6000/c"},
		{"unusable URLBase ignored", "ftp://10.0.0.9/", "/c", "http://10.0.0.1:80/c"},
		{"whitespace trimmed", "  http://10.0.0.1:5431/ \n", "\n  /c  ", "http://10.0.0.1:5431/c"},
		{"uuid: segment is a path", "", "uuid:1234/WANIPConnection:1", "http://10.0.0.1:80/uuid:1234/WANIPConnection:1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := `<root><URLBase>` + tt.urlBase + `</URLBase><device><deviceType>x</deviceType><serviceList><service><serviceType>s</serviceType><controlURL>` + tt.ref + `</controlURL></service></serviceList></device></root>`
			d, err := ParseDescription([]byte(doc), loc)
			if err != nil {
				t.Fatal(err)
			}
			if got := d.Root.Services[0].ControlURL.String(); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
			if d.Root.Services[0].EventSubURL != nil {
				t.Errorf("empty eventSubURL resolved to %v", d.Root.Services[0].EventSubURL)
			}
		})
	}
}

func TestParseDescriptionLimits(t *testing.T) {
	loc, _ := url.Parse("http://10.0.0.1/d.xml")
	deep := strings.Repeat("<deviceList><device>", 20) + strings.Repeat("</device></deviceList>", 20)
	manyDevices := "<deviceList>" + strings.Repeat("<device><deviceType>x</deviceType></device>", maxDevices) + "</deviceList>"
	manyServices := "<serviceList>" + strings.Repeat("<service><serviceType>s</serviceType></service>", maxServices+1) + "</serviceList>"
	tests := []struct {
		name string
		doc  string
		want error
	}{
		{"too deep", "<root><device>" + deep + "</device></root>", ErrMalformedDescription},
		{"too many devices", "<root><device>" + manyDevices + "</device></root>", ErrMalformedDescription},
		{"too many services", "<root><device>" + manyServices + "</device></root>", ErrMalformedDescription},
		{"too large", "<root>" + strings.Repeat(" ", maxDescriptionSize) + "</root>", ErrDescriptionTooLarge},
		{"unknown charset", `<?xml version="1.0" encoding="EBCDIC"?><root><device><deviceType>x</deviceType></device></root>`, ErrMalformedDescription},
		{"no device", "<root></root>", ErrMalformedDescription},
		{"garbage", "\x00\x01", ErrMalformedDescription},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseDescription([]byte(tt.doc), loc)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
	if _, err := ParseDescription([]byte("<root/>"), nil); !errors.Is(err, ErrMalformedDescription) {
		t.Errorf("nil location: err = %v", err)
	}
}

func TestServiceClassification(t *testing.T) {
	tests := []struct {
		urn  string
		kind serviceKind
	}{
		{"urn:schemas-upnp-org:service:WANIPConnection:1", kindWANIP},
		{"urn:schemas-upnp-org:service:WANIPConnection:2", kindWANIP},
		{"urn:schemas-upnp-org:service:WANPPPConnection:1", kindWANPPP},
		{"urn:dslforum-org:service:WANIPConnection:1", kindWANIP},
		{"urn:dslforum-org:service:WANPPPConnection:1", kindWANPPP},
		{"URN:Schemas-UPnP-org:service:wanipconnection:1", kindWANIP},
		{"urn:schemas-upnp-org:service:WANIPv6FirewallControl:1", kindFirewall},
		{"urn:schemas-upnp-org:service:WANCommonInterfaceConfig:1", kindCommonInterface},
		{"urn:schemas-upnp-org:service:WANIPConnection", kindWANIP},
		{"urn:example-com:service:WANIPConnection:1", kindOther},
		{"urn:schemas-upnp-org:device:WANIPConnection:1", kindOther},
		{"urn:schemas-upnp-org:service:WANIPConnection:x", kindOther},
		{"WANIPConnection", kindOther},
		{"", kindOther},
	}
	for _, tt := range tests {
		if got := classifyService(tt.urn); got != tt.kind {
			t.Errorf("classifyService(%q) = %d, want %d", tt.urn, got, tt.kind)
		}
	}
	for urn, v := range map[string]int{
		STIGDv1: 1, STIGDv2: 2,
		"urn:dslforum-org:device:InternetGatewayDevice:1": 1,
		"urn:schemas-upnp-org:device:WANDevice:2":         0,
		"upnp:rootdevice": 0,
	} {
		if got := igdVersion(urn); got != v {
			t.Errorf("igdVersion(%q) = %d, want %d", urn, got, v)
		}
	}
}

func FuzzParseDescription(f *testing.F) {
	for _, name := range []string{miniupnpdDesc, "desc-urlbase.xml", "desc-dslforum.xml", "desc-igd1-ppp.xml",
		"desc-two-wan-connection-devices.xml", "desc-offhost-control.xml", "desc-embedded-igd.xml"} {
		f.Add([]byte(discFixture(f, name)))
	}
	f.Add([]byte(`<root><URLBase>http://[fe80::1%25eth0]:80/</URLBase><device><serviceList><service><controlURL>a:b</controlURL></service></serviceList></device></root>`))
	loc, _ := url.Parse("http://192.168.1.1:5000/desc.xml")
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := ParseDescription(b, loc)
		if err != nil {
			if !errors.Is(err, ErrMalformedDescription) && !errors.Is(err, ErrDescriptionTooLarge) {
				t.Fatalf("unexpected error type: %v", err)
			}
			return
		}
		n := 0
		d.Root.walk(nil, func(path []*Device) {
			n++
			if len(path) > maxXMLDepth {
				t.Fatalf("path of %d devices", len(path))
			}
			for _, s := range path[len(path)-1].Services {
				for _, u := range []*url.URL{s.ControlURL, s.EventSubURL, s.SCPDURL} {
					if u != nil && u.Scheme != "http" && u.Scheme != "https" {
						t.Fatalf("resolved URL %q is not http", u)
					}
				}
			}
		})
		if n > maxDevices {
			t.Fatalf("%d devices", n)
		}
		// Building an IGD must not panic on anything that parses. The
		// client refuses every dial: nothing may leave the machine.
		c, _ := newDiscoverConfig(DiscoverOptions{HTTPClient: discNoDialClient})
		_, _ = c.buildIGD(t.Context(), d, netip.MustParseAddr("192.168.1.1"))
	})
}
