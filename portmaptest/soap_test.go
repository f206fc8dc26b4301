package portmaptest

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// soapBody encodes a SOAP request with encoding/xml.
func soapBody(t testing.TB, serviceType, action string, args []Arg) []byte {
	t.Helper()
	var b bytes.Buffer
	enc := xml.NewEncoder(&b)
	env := xml.StartElement{Name: xml.Name{Local: "s:Envelope"}, Attr: []xml.Attr{
		{Name: xml.Name{Local: "xmlns:s"}, Value: soapEnvelopeNS},
		{Name: xml.Name{Local: "s:encodingStyle"}, Value: soapEncodingNS},
	}}
	body := xml.StartElement{Name: xml.Name{Local: "s:Body"}}
	act := xml.StartElement{Name: xml.Name{Local: "u:" + action}, Attr: []xml.Attr{{Name: xml.Name{Local: "xmlns:u"}, Value: serviceType}}}
	toks := []xml.Token{env, body, act}
	for _, a := range args {
		el := xml.StartElement{Name: xml.Name{Local: a.Name}}
		toks = append(toks, el, xml.CharData(a.Value), el.End())
	}
	toks = append(toks, act.End(), body.End(), env.End())
	for _, tok := range toks {
		if err := enc.EncodeToken(tok); err != nil {
			t.Fatal(err)
		}
	}
	if err := enc.Flush(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// soapPost posts action to the gateway's service and returns status and
// body.
func soapPost(t *testing.T, gw *Gateway, service, serviceType, action string, args ...Arg) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(testCtx(t), http.MethodPost, "http://"+gw.HTTPAddr().String()+"/ctl/"+service,
		bytes.NewReader(soapBody(t, serviceType, action, args)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", `text/xml; charset="utf-8"`)
	req.Header.Set("SOAPAction", `"`+serviceType+"#"+action+`"`)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

const (
	ipConn2  = "urn:schemas-upnp-org:service:WANIPConnection:2"
	fwCtl1   = "urn:schemas-upnp-org:service:WANIPv6FirewallControl:1"
	lanHost  = "10.77.0.2"
	lanHost6 = "fd77::2"
)

func mapArgs(ext, internal, client, desc, lease string) []Arg {
	return []Arg{
		{"NewRemoteHost", ""}, {"NewExternalPort", ext}, {"NewProtocol", "TCP"},
		{"NewInternalPort", internal}, {"NewInternalClient", client}, {"NewEnabled", "1"},
		{"NewPortMappingDescription", desc}, {"NewLeaseDuration", lease},
	}
}

func pinholeArgs(client, lease string) []Arg {
	return []Arg{
		{"RemoteHost", ""}, {"RemotePort", "0"}, {"InternalClient", client},
		{"InternalPort", "40010"}, {"Protocol", "6"}, {"LeaseTime", lease},
	}
}

// TestSOAPRepliesMatchMiniupnpd compares the gateway's replies byte for
// byte with replies of miniupnpd 2.3.1 captured by the upnp package's
// authors (upnp/testdata).
func TestSOAPRepliesMatchMiniupnpd(t *testing.T) {
	const weird = `pmx <&>"' ]]> test`
	other := Mapping{Transport: "TCP", ExternalPort: 40000, InternalAddr: otherHost, InternalPort: 1}
	for _, tc := range []struct {
		fixture string
		opts    []Option
		setup   func(t *testing.T, gw *Gateway)
		service string
		action  string
		args    []Arg
	}{
		{fixture: "GetExternalIPAddress", service: "IPConn", action: "GetExternalIPAddress"},
		{fixture: "GetConnectionTypeInfo", service: "IPConn", action: "GetConnectionTypeInfo"},
		{fixture: "AddPortMapping-718", setup: func(t *testing.T, gw *Gateway) { mustAdd(t, gw, other) },
			service: "IPConn", action: "AddPortMapping", args: mapArgs("40000", "40000", lanHost, "x", "3600")},
		{fixture: "AddPortMapping-402", service: "IPConn", action: "AddPortMapping", args: mapArgs("40000", "40000", lanHost, "x", "-1")},
		{fixture: "AddAnyPortMapping", setup: func(t *testing.T, gw *Gateway) { mustAdd(t, gw, other) },
			service: "IPConn", action: "AddAnyPortMapping", args: mapArgs("40000", "40002", lanHost, "x", "3600")},
		{fixture: "DeletePortMapping", setup: func(t *testing.T, gw *Gateway) { mustAdd(t, gw, other) }, service: "IPConn", action: "DeletePortMapping",
			args: []Arg{{"NewRemoteHost", ""}, {"NewExternalPort", "40000"}, {"NewProtocol", "TCP"}}},
		{fixture: "DeletePortMappingRange", setup: func(t *testing.T, gw *Gateway) { mustAdd(t, gw, other) }, service: "IPConn", action: "DeletePortMappingRange",
			args: []Arg{{"NewStartPort", "40000"}, {"NewEndPort", "40010"}, {"NewProtocol", "TCP"}, {"NewManage", "1"}}},
		{fixture: "DeletePortMappingRange-730", service: "IPConn", action: "DeletePortMappingRange",
			args: []Arg{{"NewStartPort", "40000"}, {"NewEndPort", "40010"}, {"NewProtocol", "TCP"}, {"NewManage", "1"}}},
		{fixture: "GetGenericPortMappingEntry", setup: func(t *testing.T, gw *Gateway) {
			mustAdd(t, gw, Mapping{Transport: "TCP", ExternalPort: 40006, InternalAddr: netip.MustParseAddr(lanHost), InternalPort: 40006, Enabled: true, Description: "lc", Lifetime: time.Hour})
		}, service: "IPConn", action: "GetGenericPortMappingEntry", args: []Arg{{"NewPortMappingIndex", "0"}}},
		{fixture: "GetGenericPortMappingEntry-713", service: "IPConn", action: "GetGenericPortMappingEntry", args: []Arg{{"NewPortMappingIndex", "0"}}},
		{fixture: "GetSpecificPortMappingEntry", setup: func(t *testing.T, gw *Gateway) {
			mustAdd(t, gw, Mapping{Transport: "TCP", ExternalPort: 40007, InternalAddr: netip.MustParseAddr(lanHost), InternalPort: 40007, Enabled: true, Description: weird, Lifetime: time.Hour})
		}, service: "IPConn", action: "GetSpecificPortMappingEntry", args: []Arg{{"NewRemoteHost", ""}, {"NewExternalPort", "40007"}, {"NewProtocol", "TCP"}}},
		{fixture: "GetSpecificPortMappingEntry-714", service: "IPConn", action: "GetSpecificPortMappingEntry", args: []Arg{{"NewRemoteHost", ""}, {"NewExternalPort", "40007"}, {"NewProtocol", "TCP"}}},
		{fixture: "InvalidAction", service: "IPConn", action: "NoSuchAction"},
		{fixture: "GetFirewallStatus", service: "IP6FCtl", action: "GetFirewallStatus"},
		{fixture: "AddPinhole", setup: addPinhole, service: "IP6FCtl", action: "AddPinhole", args: pinholeArgs("fd77::3", "3600")},
		{fixture: "AddPinhole-606", opts: []Option{WithSecureMode()}, service: "IP6FCtl", action: "AddPinhole", args: pinholeArgs(lanHost6, "3600")},
		{fixture: "UpdatePinhole", setup: addPinhole, service: "IP6FCtl", action: "UpdatePinhole", args: []Arg{{"UniqueID", "1"}, {"NewLeaseTime", "60"}}},
		{fixture: "DeletePinhole", setup: addPinhole, service: "IP6FCtl", action: "DeletePinhole", args: []Arg{{"UniqueID", "1"}}},
		{fixture: "GetPinholePackets", setup: addPinhole, service: "IP6FCtl", action: "GetPinholePackets", args: []Arg{{"UniqueID", "1"}}},
		{fixture: "CheckPinholeWorking-709", setup: addPinhole, service: "IP6FCtl", action: "CheckPinholeWorking", args: []Arg{{"UniqueID", "1"}}},
	} {
		t.Run(tc.fixture, func(t *testing.T) {
			want, err := os.ReadFile(filepath.Join("..", "upnp", "testdata", "miniupnpd-soap-2.3.1-"+tc.fixture+".xml"))
			if err != nil {
				t.Skipf("fixture: %v", err)
			}
			opts := append([]Option{WithClock(NewManualClock(time.Unix(1e9, 0)))}, tc.opts...)
			gw := NewGateway(t, opts...)
			if tc.setup != nil {
				tc.setup(t, gw)
			}
			svcType := ipConn2
			if tc.service == "IP6FCtl" {
				svcType = fwCtl1
			}
			status, got := soapPost(t, gw, tc.service, svcType, tc.action, tc.args...)
			fault := strings.Contains(tc.fixture, "-") || tc.fixture == "InvalidAction"
			if fault != (status == http.StatusInternalServerError) {
				t.Errorf("HTTP status %d", status)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("reply differs from miniupnpd's\n got: %q\nwant: %q", got, want)
			}
		})
	}
}

func mustAdd(t *testing.T, gw *Gateway, m Mapping) {
	t.Helper()
	if err := gw.AddMapping(m); err != nil {
		t.Fatal(err)
	}
}

func addPinhole(t *testing.T, gw *Gateway) {
	t.Helper()
	if status, body := soapPost(t, gw, "IP6FCtl", fwCtl1, "AddPinhole", pinholeArgs(lanHost6, "3600")...); status != http.StatusOK {
		t.Fatalf("AddPinhole: %d %s", status, body)
	}
}

func TestParseSOAPRequest(t *testing.T) {
	good := soapBody(t, ipConn2, "AddPortMapping", mapArgs("1", "2", "10.0.0.1", `a<b&"c"`, "0"))
	call, err := parseSOAPRequest(good)
	if err != nil || call.action != "AddPortMapping" || call.serviceType != ipConn2 || len(call.args) != 8 {
		t.Fatalf("good request: %+v, %v", call, err)
	}
	if v, _ := argList(call.args).get("NewPortMappingDescription"); v != `a<b&"c"` {
		t.Errorf("description %q", v)
	}
	env := func(inner string) string {
		return `<?xml version="1.0"?><s:Envelope xmlns:s="` + soapEnvelopeNS + `"><s:Body>` + inner + `</s:Body></s:Envelope>`
	}
	for _, tc := range []struct {
		name, body string
		ok         bool
	}{
		{"minimal", env(`<u:GetStatusInfo xmlns:u="` + ipConn2 + `"/>`), true},
		{"with header", `<s:Envelope xmlns:s="` + soapEnvelopeNS + `"><s:Header><x/></s:Header><s:Body><u:A xmlns:u="t"><B>1</B></u:A></s:Body></s:Envelope>`, true},
		{"unescaped description", env(`<u:A xmlns:u="t"><NewPortMappingDescription>a<b</NewPortMappingDescription></u:A>`), false},
		{"bare ampersand", env(`<u:A xmlns:u="t"><D>a & b</D></u:A>`), false},
		{"element inside argument", env(`<u:A xmlns:u="t"><D><x/></D></u:A>`), false},
		{"no body", `<s:Envelope xmlns:s="` + soapEnvelopeNS + `"></s:Envelope>`, false},
		{"wrong envelope namespace", `<s:Envelope xmlns:s="urn:x"><s:Body><u:A xmlns:u="t"/></s:Body></s:Envelope>`, false},
		{"truncated", env(`<u:A xmlns:u="t"><D>1</D>`)[:60], false},
		{"two actions", env(`<u:A xmlns:u="t"/><u:B xmlns:u="t"/>`), false},
		{"too many arguments", env(`<u:A xmlns:u="t">` + strings.Repeat("<D>1</D>", maxSOAPArgs+1) + `</u:A>`), false},
		{"too deep", strings.Repeat("<a>", maxSOAPDepth+1), false},
		{"latin1", `<?xml version="1.0" encoding="ISO-8859-1"?>` + env(`<u:A xmlns:u="t"/>`)[21:], false},
		{"empty", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseSOAPRequest([]byte(tc.body))
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
			if err != nil && !errors.Is(err, errSOAP) {
				t.Fatalf("error %v does not wrap errSOAP", err)
			}
		})
	}
}

func TestSOAPControlChecks(t *testing.T) {
	gw := NewGateway(t)
	url := "http://" + gw.HTTPAddr().String() + "/ctl/IPConn"
	post := func(body []byte, action string) (int, string) {
		req, _ := http.NewRequestWithContext(testCtx(t), http.MethodPost, url, bytes.NewReader(body))
		if action != "" {
			req.Header.Set("SOAPAction", action)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	body := soapBody(t, ipConn2, "GetExternalIPAddress", nil)
	for _, tc := range []struct {
		name, header string
		body         []byte
		status       int
		code         string
	}{
		{"no SOAPAction header", "", body, 200, ""},
		{"unquoted header", ipConn2 + "#GetExternalIPAddress", body, 200, ""},
		{"v1 request on v2 service", "", soapBody(t, "urn:schemas-upnp-org:service:WANIPConnection:1", "GetExternalIPAddress", nil), 200, ""},
		{"header names another action", `"` + ipConn2 + `#GetStatusInfo"`, body, 500, "<errorCode>401</errorCode>"},
		{"other service", "", soapBody(t, fwCtl1, "GetFirewallStatus", nil), 500, "<errorCode>401</errorCode>"},
		{"malformed", "", []byte("<s:Envelope"), 500, "<errorCode>402</errorCode>"},
		{"too large", "", bytes.Repeat([]byte(" "), maxSOAPRequest+1), 500, "<errorCode>402</errorCode>"},
		{"lowercase protocol accepted", "", soapBody(t, ipConn2, "AddPortMapping", append(mapArgs("40000", "1", "", "", "0")[:2], append([]Arg{{"NewProtocol", "tcp"}}, mapArgs("40000", "1", "", "", "0")[3:]...)...)), 200, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, reply := post(tc.body, tc.header)
			if status != tc.status || !strings.Contains(reply, tc.code) {
				t.Fatalf("got %d %s", status, reply)
			}
		})
	}
	// The empty NewInternalClient of the last case meant the caller.
	if m := gw.Mappings(); len(m) != 1 || m[0].InternalAddr != loopback4 || m[0].Lifetime != maxLeaseV2 {
		t.Fatalf("table %+v", m)
	}
	if r := gw.RequestsFor("soap:malformed"); len(r) != 2 {
		t.Fatalf("captured malformed %+v", r)
	}
}

func TestSOAPUppercaseProtocolOnly(t *testing.T) {
	gw := NewGateway(t, WithConfig(Config{UppercaseProtocolOnly: true}))
	args := mapArgs("40000", "1", "", "", "0")
	args[2].Value = "tcp"
	if status, body := soapPost(t, gw, "IPConn", ipConn2, "AddPortMapping", args...); status != 500 || !bytes.Contains(body, []byte("<errorCode>402<")) {
		t.Fatalf("lower-case protocol: %d %s", status, body)
	}
	args[2].Value = "TCP"
	if status, body := soapPost(t, gw, "IPConn", ipConn2, "AddPortMapping", args...); status != 200 {
		t.Fatalf("upper-case protocol: %d %s", status, body)
	}
}
