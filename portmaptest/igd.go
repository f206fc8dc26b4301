package portmaptest

import (
	"bytes"
	"encoding/xml"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/portmap-dev/portmap/upnp"
)

// UPnP error codes used below, as ints.
const (
	errInvalidAction  = int(upnp.ErrInvalidAction)
	errInvalidArgs    = int(upnp.ErrInvalidArgs)
	errActionFailed   = int(upnp.ErrActionFailed)
	errNotAuthorized  = int(upnp.ErrActionNotAuthorized)
	errArrayIndex     = int(upnp.ErrSpecifiedArrayIndexInvalid)
	errNoSuchEntry    = int(upnp.ErrNoSuchEntryInArray)
	errWildExtPort    = int(upnp.ErrWildCardNotPermittedInExtPort)
	errConflict       = int(upnp.ErrConflictInMappingEntry)
	errPermanentOnly  = int(upnp.ErrOnlyPermanentLeasesSupported)
	errNoPortMaps     = int(upnp.ErrNoPortMapsAvailable)
	errNotFound       = int(upnp.ErrPortMappingNotFound)
	errWildIntPort    = int(upnp.ErrWildCardNotPermittedInIntPort)
	errInconsistent   = int(upnp.ErrInconsistentParameters)
	portListNS        = "urn:schemas-upnp-org:gw:WANIPConnection"
	portListSchemaLoc = "urn:schemas-upnp-org:gw:WANIPConnection http://www.upnp.org/schemas/gw/WANIPConnection-v2.xsd"
	// listDefault is what NewNumberOfPorts 0 means, as miniupnpd.
	listDefault = 1000
)

// ipConnActionLocked runs a WANIPConnection action.
func (g *Gateway) ipConnActionLocked(action string, a argList, caller netip.Addr, now time.Time) ([]Arg, int) {
	v2 := g.cfg.IGDVersion >= 2
	switch action {
	case "GetExternalIPAddress":
		ip := ""
		if g.extIP.IsValid() {
			ip = g.extIP.String()
		}
		return []Arg{{"NewExternalIPAddress", ip}}, 0
	case "GetStatusInfo":
		status := "Connected"
		if !g.extIP.IsValid() {
			status = "Disconnected"
		}
		return []Arg{
			{"NewConnectionStatus", status},
			{"NewLastConnectionError", "ERROR_NONE"},
			{"NewUptime", strconv.FormatInt(int64(g.uptimeLocked(now)/time.Second), 10)},
		}, 0
	case "GetConnectionTypeInfo":
		return []Arg{{"NewConnectionType", "IP_Routed"}, {"NewPossibleConnectionTypes", "IP_Routed"}}, 0
	case "GetNATRSIPStatus":
		return []Arg{{"NewRSIPAvailable", "0"}, {"NewNATEnabled", "1"}}, 0
	case "AddPortMapping":
		return g.addPortMappingLocked(a, caller, now, false)
	case "AddAnyPortMapping":
		if v2 {
			return g.addPortMappingLocked(a, caller, now, true)
		}
	case "DeletePortMapping":
		return g.deletePortMappingLocked(a, caller)
	case "DeletePortMappingRange":
		if v2 {
			return g.deletePortMappingRangeLocked(a, caller)
		}
	case "GetGenericPortMappingEntry":
		return g.genericEntryLocked(a, now)
	case "GetSpecificPortMappingEntry":
		return g.specificEntryLocked(a, now)
	case "GetListOfPortMappings":
		if v2 {
			return g.listPortMappingsLocked(a, now)
		}
	}
	return nil, errInvalidAction
}

// notAuthorized is the code for a refused request: 606 on IGD v2, 718 on
// IGD v1 (which has no 606), as miniupnpd.
func (g *Gateway) notAuthorized() int {
	if g.cfg.IGDVersion >= 2 {
		return errNotAuthorized
	}
	return errConflict
}

// protocolArg reads NewProtocol: TCP or UDP, in any case unless
// Config.UppercaseProtocolOnly.
func (g *Gateway) protocolArg(a argList) (string, bool) {
	v, ok := a.get("NewProtocol")
	if !ok {
		return "", false
	}
	v = strings.TrimSpace(v)
	if g.cfg.UppercaseProtocolOnly && v != "TCP" && v != "UDP" {
		// Quirk: several Linksys and TP-Link firmwares refuse "tcp".
		return "", false
	}
	t, err := normTransport(v)
	return t, err == nil
}

// portArg reads a port argument (decimal 0-65535). wildcard reports "*".
func portArg(a argList, name string) (port uint16, wildcard, ok bool) {
	v, ok := a.get(name)
	if !ok {
		return 0, false, false
	}
	v = strings.TrimSpace(v)
	if v == "*" {
		return 0, true, true
	}
	n, err := strconv.ParseUint(v, 10, 16)
	return uint16(n), false, err == nil
}

// uintArg reads a ui4 argument.
func uintArg(a argList, name string) (uint32, bool) {
	v, ok := a.get(name)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32)
	return uint32(n), err == nil
}

// boolArg reads a boolean argument ("1", "0", "true", "false", "yes", "no").
func boolArg(a argList, name string) (bool, bool) {
	v, ok := a.get(name)
	if !ok {
		return false, false
	}
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "1", "true", "yes":
		return true, true
	case "0", "false", "no":
		return false, true
	}
	return false, false
}

// hostArg reads an optional IPv4 address: "" and "*" are the wildcard.
func hostArg(a argList, name string) (netip.Addr, bool) {
	v, _ := a.get(name)
	v = strings.TrimSpace(v)
	if v == "" || v == "*" {
		return netip.Addr{}, true
	}
	ip, err := netip.ParseAddr(v)
	if err != nil || !ip.Unmap().Is4() {
		return netip.Addr{}, false
	}
	return ip.Unmap(), true
}

func hostText(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// addPortMappingLocked serves AddPortMapping and (anyPort) AddAnyPortMapping,
// with miniupnpd 2.3.1's rules (upnpsoap.c, upnpredirect.c).
func (g *Gateway) addPortMappingLocked(a argList, caller netip.Addr, now time.Time, anyPort bool) ([]Arg, int) {
	v2 := g.cfg.IGDVersion >= 2
	remote, okRemote := hostArg(a, "NewRemoteHost")
	ext, extWild, okExt := portArg(a, "NewExternalPort")
	transport, okProto := g.protocolArg(a)
	iport, iportWild, okInt := portArg(a, "NewInternalPort")
	enabled, okEnabled := boolArg(a, "NewEnabled")
	desc, _ := a.get("NewPortMappingDescription")
	lease, okLease := uintArg(a, "NewLeaseDuration")
	if !okRemote || !okExt || !okProto || !okInt || !okEnabled || !okLease {
		return nil, errInvalidArgs
	}
	client := caller
	if v, _ := a.get("NewInternalClient"); strings.TrimSpace(v) != "" {
		// As miniupnpd (not UPNP_STRICT): an empty NewInternalClient means
		// the caller.
		ip, err := netip.ParseAddr(strings.TrimSpace(v))
		if err != nil || !ip.Unmap().Is4() {
			return nil, errInvalidArgs
		}
		client = ip.Unmap()
	}
	if iport == 0 || iportWild {
		if v2 {
			return nil, errWildIntPort
		}
		return nil, errInvalidArgs
	}
	if !anyPort && (ext == 0 || extWild) {
		return nil, errWildExtPort
	}
	if g.cfg.SecureMode && client != caller {
		return nil, g.notAuthorized()
	}
	if g.cfg.PermanentLeasesOnly && lease != 0 {
		return nil, errPermanentOnly
	}
	leaseDur := time.Duration(lease) * time.Second
	if v2 && (lease == 0 || leaseDur > maxLeaseV2) {
		// WANIPConnection:2 §2.3.18: 0 ("infinite") and anything above
		// a week mean a week (miniupnpd does so).
		leaseDur = maxLeaseV2
	}
	// taken reports whether port holds another client's mapping; the same
	// internal client and remote host overwrite (IGD v1 §2.2.20, v2 table).
	taken := func(port uint16) bool {
		e := g.table.get(transport, port)
		return e != nil && (e.InternalAddr != client || e.RemoteHost != remote)
	}
	port := ext
	if anyPort && port == 0 {
		port = uint16(int(g.cfg.MinPort) + g.rng.IntN(int(g.cfg.MaxPort)-int(g.cfg.MinPort)+1))
	}
	if !g.table.allowed(port) || taken(port) {
		if !anyPort {
			if !g.table.allowed(port) {
				return nil, g.notAuthorized()
			}
			return nil, errConflict
		}
		p, ok := g.table.nearestFree(transport, port)
		if !ok {
			return nil, errNoPortMaps
		}
		port = p
	}
	m := Mapping{
		Protocol: UPnP, Transport: transport, ExternalPort: port,
		InternalAddr: client, InternalPort: iport, RemoteHost: remote,
		Description: desc, Enabled: enabled, Lifetime: leaseDur,
		Expires: expiry(now, leaseDur), Created: now,
	}
	if e := g.table.get(transport, port); e != nil {
		e.Mapping, e.client = m, netip.AddrPort{}
	} else if err := g.table.put(&entry{Mapping: m}); err != nil {
		if v2 {
			return nil, errNoPortMaps
		}
		return nil, errActionFailed
	}
	g.changedLocked(svcIPConn)
	if anyPort {
		return []Arg{{"NewReservedPort", strconv.Itoa(int(port))}}, 0
	}
	return nil, 0
}

// deletePortMappingLocked serves DeletePortMapping.
func (g *Gateway) deletePortMappingLocked(a argList, caller netip.Addr) ([]Arg, int) {
	port, wild, okPort := portArg(a, "NewExternalPort")
	transport, okProto := g.protocolArg(a)
	if !okPort || !okProto || port == 0 || wild {
		return nil, errInvalidArgs
	}
	e := g.table.get(transport, port)
	if e == nil {
		// The specification's answer. (miniupnpd 2.3.1 with nftables
		// answers success, see upnp/testdata: clients must accept both.)
		return nil, errNoSuchEntry
	}
	if g.cfg.SecureMode && e.InternalAddr != caller {
		if g.cfg.IGDVersion >= 2 {
			return nil, errNotAuthorized
		}
		return nil, errNoSuchEntry
	}
	g.table.delete(transport, port)
	g.changedLocked(svcIPConn)
	return nil, 0
}

// deletePortMappingRangeLocked serves DeletePortMappingRange (IGD v2).
// NewManage is honoured only in SecureMode (miniupnpd ignores it): there,
// Manage 0 deletes only the caller's mappings.
func (g *Gateway) deletePortMappingRangeLocked(a argList, caller netip.Addr) ([]Arg, int) {
	start, _, ok1 := portArg(a, "NewStartPort")
	end, _, ok2 := portArg(a, "NewEndPort")
	transport, ok3 := g.protocolArg(a)
	manage, ok4 := boolArg(a, "NewManage")
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return nil, errInvalidArgs
	}
	if start > end {
		return nil, errInconsistent
	}
	var victims []*entry
	for _, e := range g.table.byPort(transport, start, end) {
		if g.cfg.SecureMode && !manage && e.InternalAddr != caller {
			continue
		}
		victims = append(victims, e)
	}
	if len(victims) == 0 {
		return nil, errNotFound
	}
	for _, e := range victims {
		g.table.delete(e.Transport, e.ExternalPort)
	}
	g.changedLocked(svcIPConn)
	return nil, 0
}

// genericEntryLocked serves GetGenericPortMappingEntry: entries in the order
// they were made, as miniupnpd lists its rules.
func (g *Gateway) genericEntryLocked(a argList, now time.Time) ([]Arg, int) {
	v, ok := a.get("NewPortMappingIndex")
	if !ok {
		return nil, errInvalidArgs
	}
	i, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || i < 0 {
		return nil, errInvalidArgs
	}
	list := g.table.inOrder()
	if i >= len(list) {
		return nil, errArrayIndex
	}
	e := list[i]
	return []Arg{
		{"NewRemoteHost", hostText(e.RemoteHost)},
		{"NewExternalPort", strconv.Itoa(int(e.ExternalPort))},
		{"NewProtocol", e.Transport},
		{"NewInternalPort", strconv.Itoa(int(e.InternalPort))},
		{"NewInternalClient", e.InternalAddr.String()},
		{"NewEnabled", boolText(e.Enabled)},
		{"NewPortMappingDescription", e.Description},
		{"NewLeaseDuration", strconv.FormatUint(uint64(remaining(e.Expires, now)), 10)},
	}, 0
}

// specificEntryLocked serves GetSpecificPortMappingEntry.
func (g *Gateway) specificEntryLocked(a argList, now time.Time) ([]Arg, int) {
	port, wild, okPort := portArg(a, "NewExternalPort")
	transport, okProto := g.protocolArg(a)
	if !okPort || !okProto || port == 0 || wild {
		return nil, errInvalidArgs
	}
	e := g.table.get(transport, port)
	if e == nil {
		return nil, errNoSuchEntry
	}
	return []Arg{
		{"NewInternalPort", strconv.Itoa(int(e.InternalPort))},
		{"NewInternalClient", e.InternalAddr.String()},
		{"NewEnabled", boolText(e.Enabled)},
		{"NewPortMappingDescription", e.Description},
		{"NewLeaseDuration", strconv.FormatUint(uint64(remaining(e.Expires, now)), 10)},
	}, 0
}

func boolText(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// listPortMappingsLocked serves GetListOfPortMappings (IGD v2). The listing
// is an XML document sent as the (escaped) text of NewPortListing, as the
// specification says; miniupnpd sends it in a CDATA section, which clients
// read the same. An empty range gives an empty list, as miniupnpd 2.3.1
// does (the specification says 730). NewManage is ignored, as miniupnpd.
func (g *Gateway) listPortMappingsLocked(a argList, now time.Time) ([]Arg, int) {
	start, _, ok1 := portArg(a, "NewStartPort")
	end, _, ok2 := portArg(a, "NewEndPort")
	transport, ok3 := g.protocolArg(a)
	number, ok4 := uintArg(a, "NewNumberOfPorts")
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return nil, errInvalidArgs
	}
	if start > end {
		return nil, errInconsistent
	}
	if number == 0 {
		number = listDefault
	}
	entries := g.table.byPort(transport, start, end)
	if len(entries) > int(number) {
		entries = entries[:number]
	}
	return []Arg{{"NewPortListing", portListing(entries, now)}}, 0
}

// portListing encodes a PortMappingList document with encoding/xml.
func portListing(entries []*entry, now time.Time) string {
	var b bytes.Buffer
	enc := xml.NewEncoder(&b)
	list := xml.StartElement{
		Name: xml.Name{Local: "p:PortMappingList"},
		Attr: []xml.Attr{
			{Name: xml.Name{Local: "xmlns:p"}, Value: portListNS},
			{Name: xml.Name{Local: "xmlns:xsi"}, Value: "http://www.w3.org/2001/XMLSchema-instance"},
			{Name: xml.Name{Local: "xsi:schemaLocation"}, Value: portListSchemaLoc},
		},
	}
	toks := []xml.Token{list}
	field := func(name, v string) {
		el := xml.StartElement{Name: xml.Name{Local: "p:" + name}}
		toks = append(toks, el, xml.CharData(v), el.End())
	}
	for _, e := range entries {
		ent := xml.StartElement{Name: xml.Name{Local: "p:PortMappingEntry"}}
		toks = append(toks, ent)
		field("NewRemoteHost", hostText(e.RemoteHost))
		field("NewExternalPort", strconv.Itoa(int(e.ExternalPort)))
		field("NewProtocol", e.Transport)
		field("NewInternalPort", strconv.Itoa(int(e.InternalPort)))
		field("NewInternalClient", e.InternalAddr.String())
		field("NewEnabled", boolText(e.Enabled))
		field("NewDescription", e.Description)
		field("NewLeaseTime", strconv.FormatUint(uint64(remaining(e.Expires, now)), 10))
		toks = append(toks, ent.End())
	}
	toks = append(toks, list.End())
	for _, t := range toks {
		if err := enc.EncodeToken(t); err != nil {
			return ""
		}
	}
	if err := enc.Flush(); err != nil {
		return ""
	}
	return b.String()
}
