package upnp

import (
	"strings"
	"testing"
)

// FuzzParsePortMappingList checks the NewPortListing parser never panics,
// returns upper-case protocols and stays within maxListEntries.
func FuzzParsePortMappingList(f *testing.F) {
	for _, name := range []string{"miniupnpd-soap-2.3.1-GetListOfPortMappings.xml", "list-escaped-xml.xml", "list-unescaped-markup.xml"} {
		r, err := parseSOAPReply([]byte(fixtureString(name)), "GetListOfPortMappings")
		if err != nil {
			f.Fatal(err)
		}
		v, _ := r.get("NewPortListing")
		f.Add(v)
	}
	f.Add(portListingXML([]PortMapping{{ExternalPort: 1, Protocol: "TCP", InternalClient: mustAddr("10.0.0.1"), Description: "<&>"}}))
	f.Add(`<PortMappingList><PortMappingEntry><NewExternalPort>1</NewExternalPort></PortMappingEntry></PortMappingList>`)
	f.Fuzz(func(t *testing.T, s string) {
		list, err := parsePortMappingList(s)
		if err != nil {
			return
		}
		if len(list) > maxListEntries {
			t.Fatalf("%d entries", len(list))
		}
		for _, pm := range list {
			if pm.Protocol != strings.ToUpper(pm.Protocol) {
				t.Fatalf("protocol %q", pm.Protocol)
			}
		}
	})
}
