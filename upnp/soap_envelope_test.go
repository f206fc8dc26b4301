package upnp

import (
	"encoding/xml"
	"slices"
	"strings"
	"testing"
)

func TestBuildEnvelope(t *testing.T) {
	evil := `<&>"' ]]> </NewPortMappingDescription><x>`
	args := []soapArg{
		{"NewRemoteHost", ""},
		{"NewExternalPort", "40001"},
		{"NewProtocol", "TCP"},
		{"NewPortMappingDescription", evil},
	}
	b, err := buildEnvelope(urnIP2, "AddPortMapping", args)
	if err != nil {
		t.Fatal(err)
	}
	req, err := decodeFakeRequest(b)
	if err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	if req.Action != "AddPortMapping" || req.ServiceNS != urnIP2 {
		t.Errorf("action %q ns %q", req.Action, req.ServiceNS)
	}
	if !slices.Equal(req.Args, args) {
		t.Errorf("args = %q, want %q", req.Args, args)
	}
	if !strings.HasPrefix(string(b), `<?xml version="1.0" encoding="UTF-8"?>`) {
		t.Errorf("no XML declaration: %s", b)
	}
	if strings.Contains(string(b), "<x>") {
		t.Errorf("description injected markup: %s", b)
	}
	// The encodingStyle attribute is required by some IGDs (e.g. old
	// Thomson/Technicolor firmwares).
	var env struct {
		XMLName       xml.Name
		EncodingStyle string `xml:"http://schemas.xmlsoap.org/soap/envelope/ encodingStyle,attr"`
	}
	if err := xml.Unmarshal(b, &env); err != nil || env.EncodingStyle != soapEncodingNS {
		t.Errorf("encodingStyle = %q, %v", env.EncodingStyle, err)
	}
}

func TestBuildEnvelopeNoArgs(t *testing.T) {
	b, err := buildEnvelope(urnIP1, "GetExternalIPAddress", nil)
	if err != nil {
		t.Fatal(err)
	}
	req, err := decodeFakeRequest(b)
	if err != nil || req.Action != "GetExternalIPAddress" || len(req.Args) != 0 {
		t.Fatalf("%+v %v", req, err)
	}
}
