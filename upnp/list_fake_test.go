package upnp

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"strconv"
	"sync"
	"testing"
)

// fakeTable imitates miniupnpd 2.3.1's port mapping table, including the
// GetListOfPortMappings crash when a range holds more than 128 entries of
// a protocol (the device is then dead: every later request fails).
type fakeTable struct {
	mu          sync.Mutex
	entries     []PortMapping // insertion order, like miniupnpd's rule list
	crashed     bool
	maxInReply  int
	listCalls   int
	genericCall int
	// empty730 makes an empty range answer 730 instead of an empty list.
	empty730 bool
	// escaped sends NewPortListing as escaped text instead of CDATA.
	escaped bool
	// noList answers 401 to GetListOfPortMappings.
	noList bool
	// manage606 answers 606 when NewManage is 1.
	manage606 bool
}

const miniupnpdCapacity = 128

func (ft *fakeTable) handle(req fakeRequest) fakeReply {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	if ft.crashed {
		return fakeReply{Status: 503, Body: "dead"}
	}
	switch req.Action {
	case "GetGenericPortMappingEntry":
		ft.genericCall++
		i, err := strconv.Atoi(req.arg("NewPortMappingIndex"))
		if err != nil {
			return faultReply(402, "Invalid Args")
		}
		if i < 0 || i >= len(ft.entries) {
			return faultReply(713, "SpecifiedArrayIndexInvalid")
		}
		pm := ft.entries[i]
		return okReply(req.Action, req.ServiceNS,
			"NewRemoteHost", hostArg(pm.RemoteHost),
			"NewExternalPort", strconv.Itoa(int(pm.ExternalPort)),
			"NewProtocol", pm.Protocol,
			"NewInternalPort", strconv.Itoa(int(pm.InternalPort)),
			"NewInternalClient", pm.InternalClient.String(),
			"NewEnabled", "1",
			"NewPortMappingDescription", pm.Description,
			"NewLeaseDuration", strconv.Itoa(int(pm.LeaseDuration.Seconds())))
	case "GetListOfPortMappings":
		ft.listCalls++
		if ft.noList {
			return faultReply(401, "Invalid Action")
		}
		if ft.manage606 && req.arg("NewManage") == "1" {
			return faultReply(606, "Action not authorized")
		}
		start, _ := strconv.Atoi(req.arg("NewStartPort"))
		end, _ := strconv.Atoi(req.arg("NewEndPort"))
		proto := req.arg("NewProtocol")
		var match []PortMapping
		for _, pm := range ft.entries {
			if pm.Protocol == proto && int(pm.ExternalPort) >= start && int(pm.ExternalPort) <= end {
				match = append(match, pm)
			}
		}
		ft.maxInReply = max(ft.maxInReply, len(match))
		if len(match) > miniupnpdCapacity {
			ft.crashed = true
			return fakeReply{Status: 503, Body: "crashed"}
		}
		if len(match) == 0 && ft.empty730 {
			return faultReply(730, "PortMappingNotFound")
		}
		listing := portListingXML(match)
		if ft.escaped {
			return okReply(req.Action, req.ServiceNS, "NewPortListing", listing)
		}
		rep := okReply(req.Action, req.ServiceNS, "NewPortListing", "@@")
		rep.Body = string(bytes.Replace([]byte(rep.Body), []byte("@@"), []byte("<![CDATA["+listing+"]]>"), 1))
		return rep
	case "AddPortMapping":
		port, _ := strconv.Atoi(req.arg("NewExternalPort"))
		ft.add(uint16(port), req.arg("NewProtocol"), req.arg("NewPortMappingDescription"))
		return okReply(req.Action, req.ServiceNS)
	}
	return faultReply(401, "Invalid Action")
}

func (ft *fakeTable) add(port uint16, proto, desc string) {
	ft.entries = append(ft.entries, PortMapping{
		ExternalPort: port, Protocol: proto, InternalPort: port,
		InternalClient: mustAddr("10.77.0.2"), Enabled: true, Description: desc,
	})
}

// portListingXML renders entries the way miniupnpd does (p: prefix,
// NewLeaseTime, escaped description).
func portListingXML(list []PortMapping) string {
	var b bytes.Buffer
	b.WriteString(`<p:PortMappingList xmlns:p="urn:schemas-upnp-org:gw:WANIPConnection" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="urn:schemas-upnp-org:gw:WANIPConnection http://www.upnp.org/schemas/gw/WANIPConnection-v2.xsd">`)
	for _, pm := range list {
		fmt.Fprintf(&b, "<p:PortMappingEntry><p:NewRemoteHost>%s</p:NewRemoteHost><p:NewExternalPort>%d</p:NewExternalPort><p:NewProtocol>%s</p:NewProtocol><p:NewInternalPort>%d</p:NewInternalPort><p:NewInternalClient>%s</p:NewInternalClient><p:NewEnabled>1</p:NewEnabled><p:NewDescription>",
			hostArg(pm.RemoteHost), pm.ExternalPort, pm.Protocol, pm.InternalPort, pm.InternalClient)
		xml.EscapeText(&b, []byte(pm.Description))
		fmt.Fprintf(&b, "</p:NewDescription><p:NewLeaseTime>%d</p:NewLeaseTime></p:PortMappingEntry>", int(pm.LeaseDuration.Seconds()))
	}
	b.WriteString(`</p:PortMappingList>`)
	return b.String()
}

func newFakeTableDevice(t testing.TB, ft *fakeTable, urn string) *WANConnection {
	f := newFakeDevice(t, ft.handle)
	return NewWANConnection(f.service(urn), nil)
}
