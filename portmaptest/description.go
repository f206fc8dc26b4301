package portmaptest

import (
	"bytes"
	"encoding/xml"
	"strconv"
)

// svcKind identifies the services the gateway implements.
type svcKind int

const (
	svcIPConn   svcKind = iota // WANIPConnection:1 or :2
	svcFirewall                // WANIPv6FirewallControl:1
	svcCommon                  // WANCommonInterfaceConfig:1
)

// serviceInfo describes one service of the description. Its URLs are
// /ctl/<name> (control) and /evt/<name> (events), as miniupnpd's.
type serviceInfo struct {
	kind svcKind
	typ  string
	id   string
	name string
}

// deviceInfo describes one device of the description.
type deviceInfo struct {
	typ      string
	udn      string
	name     string
	services []serviceInfo
}

const (
	descPath      = "/rootDesc.xml"
	deviceNS      = "urn:schemas-upnp-org:device-1-0"
	typeIGD       = "urn:schemas-upnp-org:device:InternetGatewayDevice:"
	typeWANDevice = "urn:schemas-upnp-org:device:WANDevice:"
	typeWANConn   = "urn:schemas-upnp-org:device:WANConnectionDevice:"
	typeIPConn    = "urn:schemas-upnp-org:service:WANIPConnection:"
	typeFirewall  = "urn:schemas-upnp-org:service:WANIPv6FirewallControl:1"
	typeCommon    = "urn:schemas-upnp-org:service:WANCommonInterfaceConfig:1"
)

// devices returns the device tree, as miniupnpd 2.3.1 builds it: the IGD,
// its WANDevice (WANCommonInterfaceConfig) and that device's
// WANConnectionDevice (WANIPConnection, WANIPv6FirewallControl).
func (g *Gateway) devices() []deviceInfo {
	v := strconv.Itoa(g.cfg.IGDVersion)
	conn := []serviceInfo{{svcIPConn, typeIPConn + v, "urn:upnp-org:serviceId:WANIPConn1", "IPConn"}}
	if g.cfg.IGDVersion >= 2 && !g.cfg.NoFirewallControl {
		conn = append(conn, serviceInfo{svcFirewall, typeFirewall, "urn:upnp-org:serviceId:WANIPv6Firewall1", "IP6FCtl"})
	}
	return []deviceInfo{
		{typeIGD + v, g.uuids[0], g.cfg.FriendlyName, nil},
		{typeWANDevice + v, g.uuids[1], "WANDevice", []serviceInfo{{svcCommon, typeCommon, "urn:upnp-org:serviceId:WANCommonIFC1", "CmnIfCfg"}}},
		{typeWANConn + v, g.uuids[2], "WANConnectionDevice", conn},
	}
}

// serviceNamed returns the service whose URLs end in name.
func (g *Gateway) serviceNamed(name string) (serviceInfo, bool) {
	for _, d := range g.devices() {
		for _, s := range d.services {
			if s.name == name {
				return s, true
			}
		}
	}
	return serviceInfo{}, false
}

// The description document, encoded with encoding/xml.
type (
	xmlRoot struct {
		XMLName     xml.Name  `xml:"urn:schemas-upnp-org:device-1-0 root"`
		ConfigID    int       `xml:"configId,attr"`
		SpecVersion xmlSpec   `xml:"specVersion"`
		Device      xmlDevice `xml:"device"`
	}
	xmlSpec struct {
		Major int `xml:"major"`
		Minor int `xml:"minor"`
	}
	xmlDevice struct {
		DeviceType       string          `xml:"deviceType"`
		FriendlyName     string          `xml:"friendlyName"`
		Manufacturer     string          `xml:"manufacturer"`
		ManufacturerURL  string          `xml:"manufacturerURL"`
		ModelDescription string          `xml:"modelDescription"`
		ModelName        string          `xml:"modelName"`
		ModelNumber      string          `xml:"modelNumber"`
		SerialNumber     string          `xml:"serialNumber"`
		UDN              string          `xml:"UDN"`
		ServiceList      *xmlServiceList `xml:"serviceList"`
		DeviceList       *xmlDeviceList  `xml:"deviceList"`
	}
	xmlServiceList struct {
		Services []xmlService `xml:"service"`
	}
	xmlDeviceList struct {
		Devices []xmlDevice `xml:"device"`
	}
	xmlService struct {
		ServiceType string `xml:"serviceType"`
		ServiceID   string `xml:"serviceId"`
		SCPDURL     string `xml:"SCPDURL"`
		ControlURL  string `xml:"controlURL"`
		EventSubURL string `xml:"eventSubURL"`
	}
)

// description returns the root device description. Service URLs are
// relative (resolved against the description's location, UDA 1.1); the
// SCPD documents they name are not served.
func (g *Gateway) description() []byte {
	devs := g.devices()
	xd := make([]xmlDevice, len(devs))
	for i, d := range devs {
		xd[i] = xmlDevice{
			DeviceType: d.typ, FriendlyName: d.name,
			Manufacturer: "portmap", ManufacturerURL: "https://github.com/portmap-dev/portmap",
			ModelDescription: "portmaptest fake gateway", ModelName: "portmaptest",
			ModelNumber: "1", SerialNumber: "00000000", UDN: d.udn,
		}
		if len(d.services) > 0 {
			sl := &xmlServiceList{}
			for _, s := range d.services {
				sl.Services = append(sl.Services, xmlService{
					ServiceType: s.typ, ServiceID: s.id, SCPDURL: "/" + s.name + ".xml",
					ControlURL: "/ctl/" + s.name, EventSubURL: "/evt/" + s.name,
				})
			}
			xd[i].ServiceList = sl
		}
	}
	// Nest: IGD > WANDevice > WANConnectionDevice.
	xd[1].DeviceList = &xmlDeviceList{Devices: []xmlDevice{xd[2]}}
	xd[0].DeviceList = &xmlDeviceList{Devices: []xmlDevice{xd[1]}}
	doc := xmlRoot{ConfigID: configID, SpecVersion: xmlSpec{1, 1}, Device: xd[0]}
	var b bytes.Buffer
	b.WriteString(xml.Header)
	if err := xml.NewEncoder(&b).Encode(doc); err != nil {
		return nil // cannot happen: every field is a plain string
	}
	b.WriteString("\r\n")
	return b.Bytes()
}
