package upnp

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"
)

var addArgOrder = []string{"NewRemoteHost", "NewExternalPort", "NewProtocol", "NewInternalPort",
	"NewInternalClient", "NewEnabled", "NewPortMappingDescription", "NewLeaseDuration"}

func TestAddPortMappingRequest(t *testing.T) {
	f := newFakeDevice(t, func(r fakeRequest) fakeReply {
		if r.Action == "AddAnyPortMapping" {
			return fakeReply{Body: fixture(t, "miniupnpd-soap-2.3.1-AddAnyPortMapping.xml")}
		}
		return fakeReply{Body: fixture(t, "miniupnpd-soap-2.3.1-AddPortMapping.xml")}
	})
	c := NewWANConnection(f.service(urnIP2), nil)
	pm := PortMapping{
		RemoteHost: netip.Addr{}, ExternalPort: 40001, Protocol: "tcp", InternalPort: 8080,
		InternalClient: mustAddr("10.77.0.2"), Enabled: true, Description: `<&>"'`, LeaseDuration: 1500 * time.Millisecond,
	}
	ctx := context.Background()
	if err := c.AddPortMapping(ctx, pm); err != nil {
		t.Fatal(err)
	}
	port, err := c.AddAnyPortMapping(ctx, pm)
	if err != nil || port != 40001 {
		t.Fatalf("AddAny: %d %v", port, err)
	}
	for _, r := range f.requests() {
		if !slices.Equal(r.argNames(), addArgOrder) {
			t.Errorf("%s args %v", r.Action, r.argNames())
		}
		want := map[string]string{"NewRemoteHost": "", "NewExternalPort": "40001", "NewProtocol": "TCP", "NewInternalPort": "8080",
			"NewInternalClient": "10.77.0.2", "NewEnabled": "1", "NewPortMappingDescription": `<&>"'`, "NewLeaseDuration": "2"}
		for k, v := range want {
			if got := r.arg(k); got != v {
				t.Errorf("%s %s = %q, want %q", r.Action, k, got, v)
			}
		}
	}
}

func TestAddPortMappingValidation(t *testing.T) {
	f := newFakeDevice(t, func(r fakeRequest) fakeReply { return okReply(r.Action, r.ServiceNS) })
	v2 := NewWANConnection(f.service(urnIP2), nil)
	v1 := NewWANConnection(f.service(urnIP1), nil)
	ok := PortMapping{ExternalPort: 1, Protocol: "UDP", InternalPort: 1, InternalClient: mustAddr("10.0.0.2")}
	with := func(mod func(*PortMapping)) PortMapping { p := ok; mod(&p); return p }
	tests := []struct {
		name string
		c    *WANConnection
		pm   PortMapping
		err  error // nil: any non-nil error
		ok   bool
	}{
		{"v2 lease over a week", v2, with(func(p *PortMapping) { p.LeaseDuration = MaxLeaseV2 + time.Second }), ErrInvalidLease, false},
		{"v2 one week", v2, with(func(p *PortMapping) { p.LeaseDuration = MaxLeaseV2 }), nil, true},
		{"v1 long lease", v1, with(func(p *PortMapping) { p.LeaseDuration = 30 * 24 * time.Hour }), nil, true},
		{"negative lease", v1, with(func(p *PortMapping) { p.LeaseDuration = -time.Second }), ErrInvalidLease, false},
		{"SCTP", v2, with(func(p *PortMapping) { p.Protocol = "SCTP" }), nil, false},
		{"no client", v2, with(func(p *PortMapping) { p.InternalClient = netip.Addr{} }), nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(f.requests())
			err := tt.c.AddPortMapping(context.Background(), tt.pm)
			if tt.ok != (err == nil) || (tt.err != nil && !errors.Is(err, tt.err)) {
				t.Fatalf("err = %v", err)
			}
			if !tt.ok && len(f.requests()) != before {
				t.Error("invalid request was sent")
			}
		})
	}
	if _, err := v1.AddAnyPortMapping(context.Background(), ok); !errors.Is(err, ErrNotSupported) {
		t.Errorf("v1 AddAny: %v", err)
	}
	if err := v1.DeletePortMappingRange(context.Background(), 1, 2, "TCP", false); !errors.Is(err, ErrNotSupported) {
		t.Errorf("v1 DeleteRange: %v", err)
	}
	if _, err := v1.GetListOfPortMappings(context.Background(), 1, 2, "TCP", false, 0); !errors.Is(err, ErrNotSupported) {
		t.Errorf("v1 GetList: %v", err)
	}
}

func TestDeletePortMappingRequests(t *testing.T) {
	f := newFakeDevice(t, func(r fakeRequest) fakeReply {
		switch {
		case r.Action == "GetGenericPortMappingEntry":
			return fakeReply{Body: fixture(t, "miniupnpd-soap-2.3.1-GetGenericPortMappingEntry-713.xml")}
		case r.Action == "DeletePortMappingRange" && r.arg("NewStartPort") == "44000":
			return fakeReply{Body: fixture(t, "miniupnpd-soap-2.3.1-DeletePortMappingRange-730.xml")}
		}
		return okReply(r.Action, r.ServiceNS)
	})
	c := NewWANConnection(f.service(urnIP2), nil)
	ctx := context.Background()
	if err := c.DeletePortMapping(ctx, mustAddr("198.51.100.1"), 40001, "udp"); err != nil {
		t.Fatal(err)
	}
	if err := c.DeletePortMappingRange(ctx, 40000, 40010, "tcp", true); err != nil {
		t.Fatal(err)
	}
	if err := c.DeletePortMappingRange(ctx, 44000, 44010, "TCP", false); !errors.Is(err, ErrPortMappingNotFound) {
		t.Fatalf("range 730: %v", err)
	}
	var r []fakeRequest
	for _, q := range f.requests() {
		if q.Action != "GetGenericPortMappingEntry" {
			r = append(r, q)
		}
	}
	if len(r) != 3 {
		t.Fatalf("requests %+v", r)
	}
	if !slices.Equal(r[0].argNames(), []string{"NewRemoteHost", "NewExternalPort", "NewProtocol"}) ||
		r[0].arg("NewRemoteHost") != "198.51.100.1" || r[0].arg("NewProtocol") != "UDP" {
		t.Errorf("delete args %v", r[0].Args)
	}
	if !slices.Equal(r[1].argNames(), []string{"NewStartPort", "NewEndPort", "NewProtocol", "NewManage"}) ||
		r[1].arg("NewManage") != "1" || r[1].arg("NewProtocol") != "TCP" || r[1].arg("NewEndPort") != "40010" {
		t.Errorf("range args %v", r[1].Args)
	}
}

func TestPortMappingEntryFixtures(t *testing.T) {
	_, svc := fixtureDevice(t, urnIP2, map[string]string{
		"GetSpecificPortMappingEntry": "miniupnpd-soap-2.3.1-GetSpecificPortMappingEntry.xml",
		"GetGenericPortMappingEntry":  "miniupnpd-soap-2.3.1-GetGenericPortMappingEntry.xml",
	})
	c := NewWANConnection(svc, nil)
	ctx := context.Background()
	pm, err := c.GetSpecificPortMappingEntry(ctx, netip.Addr{}, 40007, "tcp")
	want := PortMapping{ExternalPort: 40007, Protocol: "TCP", InternalPort: 40007, InternalClient: mustAddr("10.77.0.2"),
		Enabled: true, Description: `pmx <&>"' ]]> test`, LeaseDuration: 3600 * time.Second}
	if err != nil || pm != want {
		t.Errorf("specific: %+v %v", pm, err)
	}
	pm, err = c.GetGenericPortMappingEntry(ctx, 0)
	want = PortMapping{ExternalPort: 40006, Protocol: "TCP", InternalPort: 40006, InternalClient: mustAddr("10.77.0.2"),
		Enabled: true, Description: "lc", LeaseDuration: 3600 * time.Second}
	if err != nil || pm != want {
		t.Errorf("generic: %+v %v", pm, err)
	}
	if _, err := c.GetGenericPortMappingEntry(ctx, -1); err == nil {
		t.Error("negative index accepted")
	}
}

func TestPortMappingFaultFixtures(t *testing.T) {
	_, svc := fixtureDevice(t, urnIP2, map[string]string{
		"GetSpecificPortMappingEntry": "miniupnpd-soap-2.3.1-GetSpecificPortMappingEntry-714.xml",
		"GetGenericPortMappingEntry":  "miniupnpd-soap-2.3.1-GetGenericPortMappingEntry-713.xml",
		"AddPortMapping":              "miniupnpd-soap-2.3.1-AddPortMapping-402.xml",
	})
	c := NewWANConnection(svc, nil)
	ctx := context.Background()
	if _, err := c.GetSpecificPortMappingEntry(ctx, netip.Addr{}, 40999, "TCP"); !errors.Is(err, ErrNoSuchEntryInArray) {
		t.Errorf("specific: %v", err)
	}
	if _, err := c.GetGenericPortMappingEntry(ctx, 999); !errors.Is(err, ErrSpecifiedArrayIndexInvalid) {
		t.Errorf("generic: %v", err)
	}
	err := c.AddPortMapping(ctx, PortMapping{ExternalPort: 1, Protocol: "TCP", InternalPort: 1, InternalClient: mustAddr("10.0.0.1")})
	var se *SOAPError
	if !errors.As(err, &se) || se.Code != 402 || se.Action != "AddPortMapping" || se.Description != "Invalid Args" {
		t.Errorf("add: %#v", err)
	}
}

func TestMappingFromFieldsErrors(t *testing.T) {
	for _, kv := range [][2]string{
		{"NewExternalPort", "70000"}, {"NewInternalPort", "x"}, {"NewInternalClient", "host.lan"},
		{"NewRemoteHost", "nope"}, {"NewLeaseDuration", "-1"},
	} {
		r := soapReply{Args: []soapArg{{kv[0], kv[1]}}}
		if _, err := mappingFromFields(r.get); err == nil {
			t.Errorf("%s=%q accepted", kv[0], kv[1])
		}
	}
	r := soapReply{Args: []soapArg{{"NewRemoteHost", "*"}, {"NewEnabled", "true"}, {"NewLeaseTime", "5"}, {"NewDescription", "d"}}}
	pm, err := mappingFromFields(r.get)
	if err != nil || pm.RemoteHost.IsValid() || !pm.Enabled || pm.LeaseDuration != 5*time.Second || pm.Description != "d" {
		t.Errorf("%+v %v", pm, err)
	}
}
