package upnp

import (
	"errors"
	"strings"
	"testing"
)

func TestParseSOAPReply(t *testing.T) {
	tests := []struct {
		name     string
		body     string
		want     map[string]string
		wantCode int
		wantErr  error
	}{
		{
			name: "miniupnpd",
			body: fixtureString("miniupnpd-soap-2.3.1-GetStatusInfo.xml"),
			want: map[string]string{"NewConnectionStatus": "Connected", "NewLastConnectionError": "ERROR_NONE"},
		},
		{
			name: "SOAP-ENV prefix, m: action prefix",
			body: `<?xml version="1.0" encoding="utf-8"?><SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/" SOAP-ENV:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><SOAP-ENV:Body><m:GetExternalIPAddressResponse xmlns:m="urn:schemas-upnp-org:service:WANPPPConnection:1"><NewExternalIPAddress>203.0.113.7</NewExternalIPAddress></m:GetExternalIPAddressResponse></SOAP-ENV:Body></SOAP-ENV:Envelope>`,
			want: map[string]string{"NewExternalIPAddress": "203.0.113.7"},
		},
		{
			name: "default namespaces, whitespace, header",
			body: "<Envelope xmlns=\"http://schemas.xmlsoap.org/soap/envelope/\">\n <Header><x>1</x></Header>\n <Body>\n  <GetExternalIPAddressResponse xmlns=\"urn:schemas-upnp-org:service:WANIPConnection:1\">\n   <NewExternalIPAddress> 203.0.113.8 </NewExternalIPAddress>\n  </GetExternalIPAddressResponse>\n </Body>\n</Envelope>\n",
			want: map[string]string{"NewExternalIPAddress": " 203.0.113.8 "},
		},
		{
			name: "undeclared prefixes (sloppy firmware)",
			body: `<s:Envelope><s:Body><u:GetExternalIPAddressResponse><NewExternalIPAddress>1.2.3.4</NewExternalIPAddress></u:GetExternalIPAddressResponse></s:Body></s:Envelope>`,
			want: map[string]string{"NewExternalIPAddress": "1.2.3.4"},
		},
		{
			name: "entities and bare ampersand",
			body: `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><u:X><NewPortMappingDescription>a &lt;&amp;&gt;&quot;&apos;&#39; R&D b&nbsp;c</NewPortMappingDescription></u:X></s:Body></s:Envelope>`,
			want: map[string]string{"NewPortMappingDescription": "a <&>\"'' R&D b\u00a0c"},
		},
		{
			name: "ISO-8859-1",
			body: "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body><u:X><NewPortMappingDescription>caf\xe9</NewPortMappingDescription></u:X></s:Body></s:Envelope>",
			want: map[string]string{"NewPortMappingDescription": "café"},
		},
		{
			name: "empty self-closed response",
			body: fixtureString("miniupnpd-soap-2.3.1-AddPortMapping.xml"),
			want: map[string]string{},
		},
		{
			name: "empty Body",
			body: `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body/></s:Envelope>`,
			want: map[string]string{},
		},
		{
			name:     "miniupnpd fault",
			body:     fixtureString("miniupnpd-soap-2.3.1-AddPortMapping-718.xml"),
			wantCode: 718,
		},
		{
			name:     "fault with prefixed UPnPError and spaces",
			body:     `<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/"><SOAP-ENV:Body><SOAP-ENV:Fault><faultcode>SOAP-ENV:Client</faultcode><faultstring>UPnPError</faultstring><detail><e:UPnPError xmlns:e="urn:schemas-upnp-org:control-1-0"><e:errorCode> 725 </e:errorCode><e:errorDescription>OnlyPermanentLeasesSupported</e:errorDescription></e:UPnPError></detail></SOAP-ENV:Fault></SOAP-ENV:Body></SOAP-ENV:Envelope>`,
			wantCode: 725,
		},
		{
			name:    "fault without UPnPError",
			body:    `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><faultcode>s:Server</faultcode><faultstring>boom</faultstring></s:Fault></s:Body></s:Envelope>`,
			wantErr: ErrMalformedResponse,
		},
		{name: "not XML", body: "<html><body>500</body></html>", wantErr: ErrMalformedResponse},
		{name: "empty", body: "", wantErr: ErrMalformedResponse},
		{name: "truncated", body: `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><u:X><A>1</A>`, wantErr: ErrMalformedResponse},
		{name: "deep", body: `<s:Envelope><s:Body><u:X><A>` + strings.Repeat("<a>", 100) + `</A></u:X></s:Body></s:Envelope>`, wantErr: ErrMalformedResponse},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := parseSOAPReply([]byte(tt.body), "Act")
			var se *SOAPError
			switch {
			case tt.wantCode != 0:
				if !errors.As(err, &se) || se.Code != tt.wantCode || se.Action != "Act" {
					t.Fatalf("err = %v, want code %d", err, tt.wantCode)
				}
				return
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			case err != nil:
				t.Fatal(err)
			}
			for k, v := range tt.want {
				got, ok := r.get(k)
				if !ok || got != v {
					t.Errorf("%s = %q (%v), want %q", k, got, ok, v)
				}
			}
			if len(r.Args) != len(tt.want) && tt.name != "miniupnpd" {
				t.Errorf("args = %q", r.Args)
			}
		})
	}
}

func TestParseSOAPReplyNestedValue(t *testing.T) {
	// Some firmwares put the PortMappingList into NewPortListing as markup
	// instead of escaping it: the raw inner XML is returned.
	body := `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><u:GetListOfPortMappingsResponse xmlns:u="urn:schemas-upnp-org:service:WANIPConnection:2"><NewPortListing><p:PortMappingList xmlns:p="urn:schemas-upnp-org:gw:WANIPConnection"><p:PortMappingEntry><p:NewExternalPort>1</p:NewExternalPort></p:PortMappingEntry></p:PortMappingList></NewPortListing></u:GetListOfPortMappingsResponse></s:Body></s:Envelope>`
	r, err := parseSOAPReply([]byte(body), "GetListOfPortMappings")
	if err != nil {
		t.Fatal(err)
	}
	v, _ := r.get("NewPortListing")
	if !strings.HasPrefix(v, "<p:PortMappingList") || !strings.HasSuffix(v, "</p:PortMappingList>") {
		t.Fatalf("value = %q", v)
	}
}

func TestSOAPReplyGetCaseInsensitive(t *testing.T) {
	r := soapReply{Args: []soapArg{{"newexternalipaddress", "1.2.3.4"}}}
	if v, ok := r.get("NewExternalIPAddress"); !ok || v != "1.2.3.4" {
		t.Fatalf("got %q %v", v, ok)
	}
	if _, err := r.require("Missing"); !errors.Is(err, ErrMalformedResponse) {
		t.Fatalf("require missing: %v", err)
	}
}

func fixtureString(name string) string {
	b, err := readTestdata(name)
	if err != nil {
		panic(err)
	}
	return string(b)
}
