package upnp

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Codec micro-benchmarks on real miniupnpd 2.3.1 replies (testdata): what
// building and parsing the UPnP messages costs, with allocations. Run with
// "go test -run ^$ -bench . -benchmem ./upnp"; bench/ (go run ./bench) runs
// them too and puts them in its report.

// benchFixture reads a file of testdata.
func benchFixture(b *testing.B, name string) []byte {
	b.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		b.Fatal(err)
	}
	return data
}

// benchAddArgs are the arguments of AddPortMapping in the specification's
// order, with a description that needs escaping.
var benchAddArgs = []soapArg{
	{"NewRemoteHost", ""},
	{"NewExternalPort", "18080"},
	{"NewProtocol", "TCP"},
	{"NewInternalPort", "8080"},
	{"NewInternalClient", "192.168.1.20"},
	{"NewEnabled", "1"},
	{"NewPortMappingDescription", `web server <"main"> & co`},
	{"NewLeaseDuration", "7200"},
}

// BenchmarkSOAPEnvelopeAddPortMapping builds an AddPortMapping request
// body (every value escaped by encoding/xml).
func BenchmarkSOAPEnvelopeAddPortMapping(b *testing.B) {
	b.ReportAllocs()
	var n int
	for b.Loop() {
		body, err := buildEnvelope("urn:schemas-upnp-org:service:WANIPConnection:2", "AddPortMapping", benchAddArgs)
		if err != nil {
			b.Fatal(err)
		}
		n = len(body)
	}
	b.SetBytes(int64(n))
}

// BenchmarkSOAPEnvelopeGetExternalIPAddress builds a request without
// arguments.
func BenchmarkSOAPEnvelopeGetExternalIPAddress(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := buildEnvelope("urn:schemas-upnp-org:service:WANIPConnection:2", "GetExternalIPAddress", nil); err != nil {
			b.Fatal(err)
		}
	}
}

// benchParseReply benchmarks parsing a fixture reply of action.
func benchParseReply(b *testing.B, fixture, action string, wantFault bool) {
	body := benchFixture(b, fixture)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		_, err := parseSOAPReply(body, action)
		if (err != nil) != wantFault {
			b.Fatal(err)
		}
	}
}

// BenchmarkSOAPReplyGetExternalIPAddress parses miniupnpd's answer.
func BenchmarkSOAPReplyGetExternalIPAddress(b *testing.B) {
	benchParseReply(b, "miniupnpd-soap-2.3.1-GetExternalIPAddress.xml", "GetExternalIPAddress", false)
}

// BenchmarkSOAPReplyAddAnyPortMapping parses miniupnpd's answer.
func BenchmarkSOAPReplyAddAnyPortMapping(b *testing.B) {
	benchParseReply(b, "miniupnpd-soap-2.3.1-AddAnyPortMapping.xml", "AddAnyPortMapping", false)
}

// BenchmarkSOAPReplyFault718 parses a 718 ConflictInMappingEntry fault
// into a *SOAPError.
func BenchmarkSOAPReplyFault718(b *testing.B) {
	benchParseReply(b, "miniupnpd-soap-2.3.1-AddPortMapping-718.xml", "AddPortMapping", true)
}

// BenchmarkSSDPResponseParse parses miniupnpd's M-SEARCH answer.
func BenchmarkSSDPResponseParse(b *testing.B) {
	msg := benchFixture(b, "ssdp-miniupnpd-2.3.1-response.txt")
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		r, err := ParseSearchResponse(msg)
		if err != nil || r.Location == "" {
			b.Fatal(r, err)
		}
	}
}

// BenchmarkDescriptionParse parses miniupnpd's root device description.
func BenchmarkDescriptionParse(b *testing.B) {
	doc := benchFixture(b, "miniupnpd-2.3.1-rootDesc.xml")
	loc, err := url.Parse("http://10.77.0.1:5000/rootDesc.xml")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(doc)))
	for b.Loop() {
		if _, err := ParseDescription(doc, loc); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPortMappingListFixture parses miniupnpd's GetListOfPortMappings
// answer: the SOAP envelope, then the PortMappingList in its CDATA.
func BenchmarkPortMappingListFixture(b *testing.B) {
	body := benchFixture(b, "miniupnpd-soap-2.3.1-GetListOfPortMappings.xml")
	benchList(b, body, -1)
}

// BenchmarkPortMappingList100 parses a GetListOfPortMappings answer of 100
// entries shaped like miniupnpd's.
func BenchmarkPortMappingList100(b *testing.B) {
	benchList(b, benchListReply(100), 100)
}

func benchList(b *testing.B, body []byte, want int) {
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		r, err := parseSOAPReply(body, "GetListOfPortMappings")
		if err != nil {
			b.Fatal(err)
		}
		listing, ok := r.get("NewPortListing")
		if !ok {
			b.Fatal("no NewPortListing")
		}
		list, err := parsePortMappingList(listing)
		if err != nil || (want >= 0 && len(list) != want) {
			b.Fatal(len(list), err)
		}
	}
}

// benchListReply builds a GetListOfPortMappings reply of n entries in the
// form miniupnpd 2.3.1 sends (the list in a CDATA section).
func benchListReply(n int) []byte {
	var list strings.Builder
	list.WriteString(`<p:PortMappingList xmlns:p="urn:schemas-upnp-org:gw:WANIPConnection" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="urn:schemas-upnp-org:gw:WANIPConnection http://www.upnp.org/schemas/gw/WANIPConnection-v2.xsd">`)
	for i := range n {
		fmt.Fprintf(&list, "<p:PortMappingEntry><p:NewRemoteHost></p:NewRemoteHost><p:NewExternalPort>%d</p:NewExternalPort>"+
			"<p:NewProtocol>TCP</p:NewProtocol><p:NewInternalPort>%d</p:NewInternalPort><p:NewInternalClient>10.77.0.2</p:NewInternalClient>"+
			"<p:NewEnabled>1</p:NewEnabled><p:NewDescription>bench %d</p:NewDescription><p:NewLeaseTime>3600</p:NewLeaseTime></p:PortMappingEntry>",
			45000+i, 45000+i, i)
	}
	list.WriteString(`</p:PortMappingList>`)
	return []byte(`<?xml version="1.0"?>` + "\r\n" +
		`<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body>` +
		`<u:GetListOfPortMappingsResponse xmlns:u="urn:schemas-upnp-org:service:WANIPConnection:2"><NewPortListing><![CDATA[` +
		list.String() + `]]></NewPortListing></u:GetListOfPortMappingsResponse></s:Body></s:Envelope>` + "\r\n")
}
