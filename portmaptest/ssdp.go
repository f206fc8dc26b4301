package portmaptest

import (
	"bytes"
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// SSDP limits and constants.
const (
	maxSSDPHeaders = 32
	maxSTLen       = 256
	ssdpMaxAge     = 120 // CACHE-CONTROL max-age, as miniupnpd
	configID       = 1337
	serverHeader   = "Linux UPnP/1.1 portmaptest/1.0"
)

var errNotMSearch = errors.New("portmaptest: not an M-SEARCH")

// parseMSearch parses an SSDP search request (UDA 1.1 §1.3.2) and returns
// its search target. It accepts bare LF line ends and header names in any
// case, and requires MAN: "ssdp:discover" and an ST.
func parseMSearch(b []byte) (string, error) {
	lines := strings.Split(string(b), "\n")
	if strings.TrimRight(lines[0], "\r ") != "M-SEARCH * HTTP/1.1" {
		return "", errNotMSearch
	}
	var st string
	man, haveST := false, false
	for i, l := range lines[1:] {
		if i >= maxSSDPHeaders {
			return "", errors.New("portmaptest: too many SSDP headers")
		}
		l = strings.TrimRight(l, "\r")
		if l == "" {
			break
		}
		name, value, ok := strings.Cut(l, ":")
		if !ok {
			return "", errors.New("portmaptest: SSDP header without colon")
		}
		value = strings.TrimSpace(value)
		switch strings.ToUpper(strings.TrimSpace(name)) {
		case "MAN":
			man = strings.Trim(value, `"`) == "ssdp:discover"
		case "ST":
			if len(value) == 0 || len(value) > maxSTLen {
				return "", errors.New("portmaptest: bad ST")
			}
			st, haveST = value, true
		}
	}
	if !man || !haveST {
		return "", errors.New(`portmaptest: M-SEARCH without MAN: "ssdp:discover" or ST`)
	}
	return st, nil
}

// handleSSDP answers an M-SEARCH sent to the gateway's port. Other SSDP
// messages (NOTIFY from other devices) are ignored.
func (g *Gateway) handleSSDP(b []byte, from netip.AddrPort) {
	if !g.cfg.serves(UPnP) || !bytes.HasPrefix(b, []byte("M-SEARCH ")) {
		return
	}
	st, err := parseMSearch(b)
	if err != nil {
		g.mu.Lock()
		g.recordLocked(Request{Time: g.now(), Protocol: UPnP, Action: "ssdp:malformed", From: from, Code: Drop})
		g.mu.Unlock()
		return
	}
	g.run(exchange{
		from: from,
		rec:  Request{Protocol: UPnP, Action: "ssdp:search", SearchTarget: st},
		serve: func(time.Time) ([][]byte, int) {
			var out [][]byte
			for _, t := range g.ssdpTargetsLocked(st) {
				out = append(out, g.searchResponseLocked(t))
			}
			return out, 0
		},
	})
}

// ssdpTarget is one answer to a search: the ST and USN to send.
type ssdpTarget struct{ st, usn string }

// ssdpTargetsLocked returns what to answer to a search for st, as UDA 1.1
// §1.3.3 says: every device and service for ssdp:all; the root device for
// upnp:rootdevice; the device whose UDN is st; every device or service of
// the type in st with a version at least the one asked, answered with the
// version asked. The ST and USN are always built from the gateway's own
// names, never copied from the request.
func (g *Gateway) ssdpTargetsLocked(st string) []ssdpTarget {
	devs := g.devices()
	root := ssdpTarget{"upnp:rootdevice", g.uuids[0] + "::upnp:rootdevice"}
	switch {
	case st == "ssdp:all" && g.cfg.SSDPRootDeviceOnly:
		return []ssdpTarget{root}
	case st == "ssdp:all":
		out := []ssdpTarget{root}
		for _, d := range devs {
			out = append(out, ssdpTarget{d.udn, d.udn}, ssdpTarget{d.typ, d.udn + "::" + d.typ})
			for _, s := range d.services {
				out = append(out, ssdpTarget{s.typ, d.udn + "::" + s.typ})
			}
		}
		return out
	case st == "upnp:rootdevice":
		return []ssdpTarget{root}
	case g.cfg.SSDPRootDeviceOnly:
		// Quirk (older Zyxel and Thomson/Technicolor firmwares): nothing
		// but upnp:rootdevice is answered.
		return nil
	case strings.HasPrefix(st, "uuid:"):
		for _, d := range devs {
			if d.udn == st {
				return []ssdpTarget{{d.udn, d.udn}}
			}
		}
		return nil
	}
	base, ver, ok := splitTypeVersion(st)
	if !ok {
		return nil
	}
	var out []ssdpTarget
	match := func(typ, udn string) {
		b, v, _ := splitTypeVersion(typ)
		if b == base && v >= ver {
			t := b + ":" + strconv.Itoa(ver)
			out = append(out, ssdpTarget{t, udn + "::" + t})
		}
	}
	for _, d := range devs {
		match(d.typ, d.udn)
		for _, s := range d.services {
			match(s.typ, d.udn)
		}
	}
	return out
}

// splitTypeVersion splits "urn:...:Type:2" into "urn:...:Type" and 2.
func splitTypeVersion(s string) (string, int, bool) {
	i := strings.LastIndexByte(s, ':')
	if i < 0 || !strings.HasPrefix(s, "urn:") {
		return "", 0, false
	}
	v, err := strconv.Atoi(s[i+1:])
	if err != nil || v < 1 || v > 99 {
		return "", 0, false
	}
	return s[:i], v, true
}

// searchResponseLocked builds one M-SEARCH reply, header for header like
// miniupnpd 2.3.1's (upnp/testdata/ssdp-miniupnpd-2.3.1-response.txt).
func (g *Gateway) searchResponseLocked(t ssdpTarget) []byte {
	var b bytes.Buffer
	b.WriteString("HTTP/1.1 200 OK\r\n")
	b.WriteString("CACHE-CONTROL: max-age=" + strconv.Itoa(ssdpMaxAge) + "\r\n")
	b.WriteString("ST: " + t.st + "\r\n")
	b.WriteString("USN: " + t.usn + "\r\n")
	b.WriteString("EXT:\r\n")
	b.WriteString("SERVER: " + serverHeader + "\r\n")
	b.WriteString("LOCATION: " + g.locationLocked() + "\r\n")
	b.WriteString("OPT: \"http://schemas.upnp.org/upnp/1/0/\"; ns=01\r\n")
	b.WriteString("01-NLS: " + strconv.FormatInt(g.bootID, 10) + "\r\n")
	b.WriteString("BOOTID.UPNP.ORG: " + strconv.FormatInt(g.bootID, 10) + "\r\n")
	b.WriteString("CONFIGID.UPNP.ORG: " + strconv.Itoa(configID) + "\r\n")
	b.WriteString("\r\n")
	return b.Bytes()
}
