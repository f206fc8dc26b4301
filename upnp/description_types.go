package upnp

import (
	"strconv"
	"strings"
)

// urnType splits a device or service type URN of the form
// "urn:<domain>:<kind>:<name>:<version>" and reports whether it is one of
// the domains an IGD uses: schemas-upnp-org, or dslforum-org, the TR-064
// names that AVM FRITZ!Box and other DSL routers use for the same services
// (e.g. "urn:dslforum-org:service:WANIPConnection:1"). Domain, kind and
// name compare case-insensitively; the version defaults to 1.
func urnType(urn, kind string) (name string, version int, ok bool) {
	p := strings.Split(strings.TrimSpace(urn), ":")
	if len(p) < 4 || len(p) > 5 || !strings.EqualFold(p[0], "urn") || !strings.EqualFold(p[2], kind) {
		return "", 0, false
	}
	if !strings.EqualFold(p[1], "schemas-upnp-org") && !strings.EqualFold(p[1], "dslforum-org") {
		return "", 0, false
	}
	version = 1
	if len(p) == 5 {
		v, err := strconv.Atoi(p[4])
		if err != nil || v < 1 || v > 99 {
			return "", 0, false
		}
		version = v
	}
	return p[3], version, true
}

// serviceKind classifies a service type.
type serviceKind int

const (
	kindOther serviceKind = iota
	kindWANIP
	kindWANPPP
	kindFirewall
	kindCommonInterface
)

func classifyService(t string) serviceKind {
	name, _, ok := urnType(t, "service")
	if !ok {
		return kindOther
	}
	switch strings.ToLower(name) {
	case "wanipconnection":
		return kindWANIP
	case "wanpppconnection":
		return kindWANPPP
	case "wanipv6firewallcontrol":
		return kindFirewall
	case "wancommoninterfaceconfig":
		return kindCommonInterface
	}
	return kindOther
}

// isWANConnection reports whether t is a WANIPConnection or
// WANPPPConnection service type (any version, UPnP or dslforum domain).
func isWANConnection(t string) bool {
	k := classifyService(t)
	return k == kindWANIP || k == kindWANPPP
}

// igdVersion returns the version of an InternetGatewayDevice type URN, or 0
// if t is not one.
func igdVersion(t string) int {
	name, v, ok := urnType(t, "device")
	if !ok || !strings.EqualFold(name, "InternetGatewayDevice") {
		return 0
	}
	return v
}
