package upnp

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

func TestGetListOfPortMappingsFixtures(t *testing.T) {
	tests := []struct {
		fixture string
		want    []PortMapping
	}{
		{"miniupnpd-soap-2.3.1-GetListOfPortMappings.xml", []PortMapping{
			{ExternalPort: 40007, Protocol: "TCP", InternalPort: 40007, InternalClient: mustAddr("10.77.0.2"), Enabled: true, Description: `pmx <&>"' ]]> test`, LeaseDuration: 3600 * time.Second},
			{ExternalPort: 40006, Protocol: "TCP", InternalPort: 40006, InternalClient: mustAddr("10.77.0.2"), Enabled: true, Description: "lc", LeaseDuration: 3590 * time.Second},
			{ExternalPort: 40001, Protocol: "TCP", InternalPort: 40002, InternalClient: mustAddr("10.77.0.2"), Enabled: true, Description: "x", LeaseDuration: 3590 * time.Second},
		}},
		{"miniupnpd-soap-2.3.1-GetListOfPortMappings-730.xml", nil},
		{"list-escaped-xml.xml", []PortMapping{
			{RemoteHost: mustAddr("198.51.100.7"), ExternalPort: 2345, Protocol: "UDP", InternalPort: 2346, InternalClient: mustAddr("192.168.1.137"), Enabled: false, Description: `game & <chat>`, LeaseDuration: 345 * time.Second},
			{ExternalPort: 8080, Protocol: "TCP", InternalPort: 80, InternalClient: mustAddr("192.168.1.2"), Enabled: true, Description: "", LeaseDuration: 0},
		}},
		{"list-unescaped-markup.xml", []PortMapping{
			{ExternalPort: 51413, Protocol: "TCP", InternalPort: 51413, InternalClient: mustAddr("192.168.0.10"), Enabled: true, Description: "Transmission", LeaseDuration: 604800 * time.Second},
		}},
		{"list-730-fault.xml", nil},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			_, svc := fixtureDevice(t, urnIP2, map[string]string{"GetListOfPortMappings": tt.fixture})
			got, err := NewWANConnection(svc, nil).GetListOfPortMappings(context.Background(), 1, 65535, "TCP", false, 100)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestGetListOfPortMappingsRequest(t *testing.T) {
	f := newFakeDevice(t, func(r fakeRequest) fakeReply {
		return fakeReply{Body: fixture(t, "miniupnpd-soap-2.3.1-GetListOfPortMappings-730.xml")}
	})
	c := NewWANConnection(f.service(urnIP2), nil)
	if _, err := c.GetListOfPortMappings(context.Background(), 40000, 40099, "udp", true, 50); err != nil {
		t.Fatal(err)
	}
	r := f.requests()[0]
	if !slices.Equal(r.argNames(), []string{"NewStartPort", "NewEndPort", "NewProtocol", "NewManage", "NewNumberOfPorts"}) {
		t.Errorf("args %v", r.argNames())
	}
	for k, v := range map[string]string{"NewStartPort": "40000", "NewEndPort": "40099", "NewProtocol": "UDP", "NewManage": "1", "NewNumberOfPorts": "50"} {
		if r.arg(k) != v {
			t.Errorf("%s = %q, want %q", k, r.arg(k), v)
		}
	}
}

func TestParsePortMappingList(t *testing.T) {
	tests := []struct {
		name string
		in   string
		n    int
		ok   bool
	}{
		{"empty string", "", 0, true},
		{"declaration and no prefix", `<?xml version="1.0" encoding="UTF-8"?><PortMappingList><PortMappingEntry><NewExternalPort>1</NewExternalPort><NewProtocol>udp</NewProtocol><NewInternalClient>10.0.0.1</NewInternalClient></PortMappingEntry></PortMappingList>`, 1, true},
		{"whitespace", "\n <p:PortMappingList xmlns:p=\"x\">\n  <p:PortMappingEntry>\n   <p:NewExternalPort> 5 </p:NewExternalPort>\n  </p:PortMappingEntry>\n </p:PortMappingList>\n", 1, true},
		{"no list element", `<foo/>`, 0, false},
		{"bad port", `<PortMappingList><PortMappingEntry><NewExternalPort>99999</NewExternalPort></PortMappingEntry></PortMappingList>`, 0, false},
		{"not xml", `hello`, 0, false},
		{"truncated", `<PortMappingList><PortMappingEntry><NewExternalPort>1`, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parsePortMappingList(tt.in)
			if (err == nil) != tt.ok || len(got) != tt.n {
				t.Fatalf("got %d entries, err %v", len(got), err)
			}
		})
	}
	got, _ := parsePortMappingList(`<PortMappingList><PortMappingEntry><NewProtocol>udp</NewProtocol></PortMappingEntry></PortMappingList>`)
	if got[0].Protocol != "UDP" {
		t.Errorf("protocol %q not upper-cased", got[0].Protocol)
	}
}

func TestGetListOfPortMappingsMalformed(t *testing.T) {
	f := newFakeDevice(t, func(r fakeRequest) fakeReply {
		return okReply(r.Action, r.ServiceNS, "NewPortListing", "<oops>")
	})
	_, err := NewWANConnection(f.service(urnIP2), nil).GetListOfPortMappings(context.Background(), 1, 2, "TCP", false, 0)
	if !errors.Is(err, ErrMalformedResponse) {
		t.Fatalf("err = %v", err)
	}
}
