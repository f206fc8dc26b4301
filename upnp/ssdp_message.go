package upnp

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// ErrMalformedSSDP is wrapped by the errors of ParseSearchResponse and
// ParseNotify.
var ErrMalformedSSDP = errors.New("upnp: malformed SSDP message")

// SearchResponse is one device's answer to an M-SEARCH.
type SearchResponse struct {
	// From is the address and port the datagram came from. The port is
	// often not 1900 (see parseSSDP).
	From netip.AddrPort
	// ST is the search target the device answered for.
	ST string
	// USN is the unique service name, "uuid:<device-UUID>[::<type>]".
	USN string
	// Location is the URL of the root device description, as sent.
	Location string
	// Server is the SERVER header (OS, UPnP version, product).
	Server string
	// MaxAge is the CACHE-CONTROL max-age, 0 when absent.
	MaxAge time.Duration
	// BootID is BOOTID.UPNP.ORG, which a UDA 1.1 device increases at every
	// boot; -1 when absent (UDA 1.0 devices).
	BootID int64
	// ConfigID is CONFIGID.UPNP.ORG; -1 when absent.
	ConfigID int64
}

// UUID returns the device UUID part of the USN ("uuid:..."), or "".
func (r *SearchResponse) UUID() string { return usnUUID(r.USN) }

// ParseSearchResponse parses an SSDP reply to an M-SEARCH ("HTTP/1.1 200 OK"
// followed by headers). It is tolerant of what real devices send: header
// names in any case, no space after the colon, bare LF line ends, a missing
// final blank line. LOCATION is required. From is left zero.
func ParseSearchResponse(b []byte) (*SearchResponse, error) {
	start, h, err := parseSSDP(b)
	if err != nil {
		return nil, err
	}
	proto, rest, _ := strings.Cut(start, " ")
	code, _, _ := strings.Cut(strings.TrimLeft(rest, " "), " ")
	if !strings.HasPrefix(strings.ToUpper(proto), "HTTP/1.") {
		return nil, fmt.Errorf("%w: not a response: %.40q", ErrMalformedSSDP, start)
	}
	if code != "200" {
		return nil, fmt.Errorf("%w: status %.10q", ErrMalformedSSDP, code)
	}
	r := &SearchResponse{
		ST:       h["ST"],
		USN:      h["USN"],
		Location: h["LOCATION"],
		Server:   h["SERVER"],
		MaxAge:   maxAge(h["CACHE-CONTROL"]),
		BootID:   headerID(h, "BOOTID.UPNP.ORG"),
		ConfigID: headerID(h, "CONFIGID.UPNP.ORG"),
	}
	if r.Location == "" {
		return nil, fmt.Errorf("%w: no LOCATION", ErrMalformedSSDP)
	}
	return r, nil
}

// Notification sub-types (NTS) of SSDP NOTIFY messages.
const (
	NTSAlive  = "ssdp:alive"
	NTSByeBye = "ssdp:byebye"
	NTSUpdate = "ssdp:update"
)

// Notify is an SSDP NOTIFY: a device announcing itself (ssdp:alive), leaving
// (ssdp:byebye) or announcing a new boot ID (ssdp:update).
type Notify struct {
	// From is the sender. miniupnpd 2.3.1 sends NOTIFY from an ephemeral
	// port, not 1900.
	From netip.AddrPort
	// NT is the notification type (device or service type, uuid, or
	// upnp:rootdevice).
	NT string
	// NTS is NTSAlive, NTSByeBye or NTSUpdate.
	NTS string
	// USN is the unique service name.
	USN string
	// Location is the description URL (absent in byebye).
	Location string
	// Server is the SERVER header.
	Server string
	// MaxAge is the CACHE-CONTROL max-age, 0 when absent.
	MaxAge time.Duration
	// BootID is BOOTID.UPNP.ORG, -1 when absent.
	BootID int64
	// NextBootID is NEXTBOOTID.UPNP.ORG (ssdp:update only), -1 when absent.
	NextBootID int64
	// ConfigID is CONFIGID.UPNP.ORG, -1 when absent.
	ConfigID int64
}

// UUID returns the device UUID part of the USN ("uuid:..."), or "".
func (n *Notify) UUID() string { return usnUUID(n.USN) }

// ParseNotify parses an SSDP NOTIFY message with the same tolerance as
// ParseSearchResponse. NT, NTS and USN are required. From is left zero.
func ParseNotify(b []byte) (*Notify, error) {
	start, h, err := parseSSDP(b)
	if err != nil {
		return nil, err
	}
	f := strings.Fields(start)
	if len(f) != 3 || !strings.EqualFold(f[0], "NOTIFY") || !strings.HasPrefix(strings.ToUpper(f[2]), "HTTP/1.") {
		return nil, fmt.Errorf("%w: not a NOTIFY: %.40q", ErrMalformedSSDP, start)
	}
	n := &Notify{
		NT:         h["NT"],
		NTS:        strings.ToLower(h["NTS"]),
		USN:        h["USN"],
		Location:   h["LOCATION"],
		Server:     h["SERVER"],
		MaxAge:     maxAge(h["CACHE-CONTROL"]),
		BootID:     headerID(h, "BOOTID.UPNP.ORG"),
		NextBootID: headerID(h, "NEXTBOOTID.UPNP.ORG"),
		ConfigID:   headerID(h, "CONFIGID.UPNP.ORG"),
	}
	if n.NT == "" || n.NTS == "" || n.USN == "" {
		return nil, fmt.Errorf("%w: NOTIFY without NT, NTS or USN", ErrMalformedSSDP)
	}
	return n, nil
}

// parseSSDP splits a datagram into its start line and headers. Header names
// are upper-cased; the first occurrence of a name wins. Lines without a
// colon are skipped rather than rejected: some devices (e.g. old Broadcom
// based firmwares) emit stray lines such as a bare "EXT" without colon.
func parseSSDP(b []byte) (string, map[string]string, error) {
	if len(b) > maxSSDPDatagram {
		return "", nil, fmt.Errorf("%w: %d bytes, limit %d", ErrMalformedSSDP, len(b), maxSSDPDatagram)
	}
	if bytes.IndexByte(b, 0) >= 0 {
		return "", nil, fmt.Errorf("%w: NUL byte", ErrMalformedSSDP)
	}
	// The header block ends at the first empty line; a body, if any, is
	// ignored. Tolerate LF-only line ends.
	lines := strings.Split(string(b), "\n")
	start := strings.TrimSpace(lines[0])
	if start == "" {
		return "", nil, fmt.Errorf("%w: empty start line", ErrMalformedSSDP)
	}
	h := make(map[string]string, 12)
	for i, l := range lines[1:] {
		l = strings.TrimRight(l, "\r")
		if l == "" {
			break
		}
		if i >= maxSSDPHeaders {
			return "", nil, fmt.Errorf("%w: more than %d headers", ErrMalformedSSDP, maxSSDPHeaders)
		}
		name, value, ok := strings.Cut(l, ":")
		if !ok || strings.IndexByte(l, '\r') >= 0 {
			// No colon, or a bare CR inside the line (which some
			// parsers treat as a line break): skip rather than guess.
			continue
		}
		name = strings.ToUpper(strings.TrimSpace(name))
		if name == "" {
			continue
		}
		if _, dup := h[name]; !dup {
			h[name] = strings.TrimSpace(value)
		}
	}
	return start, h, nil
}

// maxAge extracts max-age from a CACHE-CONTROL value such as
// `max-age=1800`, `max-age = 120` or `no-cache="Ext", max-age=5000`.
// Absurd values are capped at one day.
func maxAge(v string) time.Duration {
	for d := range strings.SplitSeq(v, ",") {
		name, val, ok := strings.Cut(d, "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(name), "max-age") {
			continue
		}
		n, err := strconv.ParseUint(strings.Trim(strings.TrimSpace(val), `"`), 10, 32)
		if err != nil {
			return 0
		}
		return time.Duration(min(n, 86400)) * time.Second
	}
	return 0
}

// headerID parses a BOOTID/CONFIGID header: a non-negative 31-bit decimal
// integer (UDA 1.1). It returns -1 when absent or invalid.
func headerID(h map[string]string, name string) int64 {
	v, ok := h[name]
	if !ok {
		return -1
	}
	n, err := strconv.ParseUint(v, 10, 31)
	if err != nil {
		return -1
	}
	return int64(n)
}

// usnUUID returns "uuid:..." from a USN such as
// "uuid:3b4c...::urn:schemas-upnp-org:device:InternetGatewayDevice:2".
func usnUUID(usn string) string {
	u, _, _ := strings.Cut(usn, "::")
	if len(u) < 5 || !strings.EqualFold(u[:5], "uuid:") {
		return ""
	}
	return u
}
