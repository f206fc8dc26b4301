package upnp

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
)

// Limits applied to device descriptions. A real IGD description is 3-20 KiB
// (miniupnpd 2.3.1: 3090 bytes) with at most three levels of devices.
const (
	maxDescriptionSize = 256 << 10
	maxXMLDepth        = 32
	maxDevices         = 64
	maxServices        = 256
)

// ErrMalformedDescription is wrapped by the errors of ParseDescription.
var ErrMalformedDescription = errors.New("upnp: malformed device description")

// Description is a parsed root device description (the document at an
// SSDP LOCATION).
type Description struct {
	// Location is the URL the description was fetched from.
	Location *url.URL
	// URLBase is the document's URLBase element (UDA 1.0; removed in 1.1
	// but still sent by many routers), nil when absent or unusable.
	URLBase *url.URL
	// Root is the root device with its embedded devices.
	Root Device
}

// Device is one device of a description, with its services and embedded
// devices.
type Device struct {
	// DeviceType is the device type URN, such as
	// "urn:schemas-upnp-org:device:InternetGatewayDevice:2".
	DeviceType   string
	FriendlyName string // short user-friendly name
	Manufacturer string // manufacturer name
	ModelName    string // model name
	ModelNumber  string // model number
	SerialNumber string // serial number
	// UDN is the unique device name, "uuid:...".
	UDN string
	// Services are the device's own services, URLs resolved.
	Services []Service
	// Devices are the embedded devices (deviceList).
	Devices []Device
}

// xmlRoot mirrors the description document. Element names are matched
// without namespace, so documents in the UPnP namespace, the dslforum one
// (TR-064), or none at all decode alike.
type xmlRoot struct {
	URLBase string    `xml:"URLBase"`
	Device  xmlDevice `xml:"device"`
}

type xmlDevice struct {
	DeviceType   string       `xml:"deviceType"`
	FriendlyName string       `xml:"friendlyName"`
	Manufacturer string       `xml:"manufacturer"`
	ModelName    string       `xml:"modelName"`
	ModelNumber  string       `xml:"modelNumber"`
	SerialNumber string       `xml:"serialNumber"`
	UDN          string       `xml:"UDN"`
	Services     []xmlService `xml:"serviceList>service"`
	Devices      []xmlDevice  `xml:"deviceList>device"`
}

type xmlService struct {
	ServiceType string `xml:"serviceType"`
	ServiceID   string `xml:"serviceId"`
	SCPDURL     string `xml:"SCPDURL"`
	ControlURL  string `xml:"controlURL"`
	EventSubURL string `xml:"eventSubURL"`
}

// ParseDescription parses a root device description fetched from location
// and resolves every service URL against URLBase, or location when there
// is no usable URLBase. It does not judge whether the URLs are safe to use;
// Discover does (see checkURLHost). The document must be at most 256 KiB
// and 32 elements deep.
func ParseDescription(b []byte, location *url.URL) (*Description, error) {
	if location == nil {
		return nil, fmt.Errorf("%w: no location", ErrMalformedDescription)
	}
	if len(b) > maxDescriptionSize {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrDescriptionTooLarge, len(b), maxDescriptionSize)
	}
	// encoding/xml recurses once per nested element; check the depth with
	// a cheap token scan first so a hostile document cannot make the
	// decoder (or the device walk below) go deep.
	if err := checkXMLDepth(b); err != nil {
		return nil, err
	}
	var x xmlRoot
	if err := newXMLDecoder(b).Decode(&x); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformedDescription, err)
	}
	d := &Description{Location: location}
	base := location
	if s := strings.TrimSpace(x.URLBase); s != "" {
		// Some firmwares (e.g. Linksys WRT54G-era Broadcom SDK) put a
		// URLBase with an address other than the one we fetched from;
		// it is kept here and judged by Discover like any other URL.
		if u, err := url.Parse(s); err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" {
			d.URLBase = u
			base = u
		}
	}
	var nDev, nSvc int
	root, err := convertDevice(&x.Device, base, &nDev, &nSvc)
	if err != nil {
		return nil, err
	}
	if root.DeviceType == "" && len(root.Services) == 0 && len(root.Devices) == 0 {
		return nil, fmt.Errorf("%w: no root device", ErrMalformedDescription)
	}
	d.Root = root
	return d, nil
}

// ErrDescriptionTooLarge is returned when a device description exceeds the
// size limit (256 KiB).
var ErrDescriptionTooLarge = errors.New("upnp: device description too large")

func newXMLDecoder(b []byte) *xml.Decoder {
	dec := xml.NewDecoder(bytes.NewReader(b))
	// Router descriptions are not always well-formed: "AT&T" with a bare
	// ampersand in friendlyName (seen on Arris/Pace gateways), HTML entities
	// such as &nbsp;. Non-strict mode accepts them.
	dec.Strict = false
	dec.Entity = xml.HTMLEntity
	dec.CharsetReader = charsetReader
	return dec
}

// charsetReader accepts the single-byte encodings routers declare besides
// UTF-8: several (e.g. older Zyxel and TP-Link firmwares) declare
// ISO-8859-1. Windows-1252 is decoded as Latin-1, which differs only in
// characters irrelevant to us.
func charsetReader(charset string, r io.Reader) (io.Reader, error) {
	switch strings.ToLower(charset) {
	case "utf-8", "utf8", "us-ascii", "ascii":
		return r, nil
	case "iso-8859-1", "iso8859-1", "latin1", "latin-1", "windows-1252", "cp1252":
		b, err := io.ReadAll(io.LimitReader(r, maxDescriptionSize+1))
		if err != nil {
			return nil, err
		}
		var sb strings.Builder
		sb.Grow(len(b))
		for _, c := range b {
			sb.WriteRune(rune(c))
		}
		return strings.NewReader(sb.String()), nil
	}
	return nil, fmt.Errorf("unsupported charset %q", charset)
}

// checkXMLDepth rejects documents nested deeper than maxXMLDepth.
func checkXMLDepth(b []byte) error {
	dec := newXMLDecoder(b)
	depth := 0
	for {
		tok, err := dec.RawToken()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: %v", ErrMalformedDescription, err)
		}
		switch tok.(type) {
		case xml.StartElement:
			depth++
			if depth > maxXMLDepth {
				return fmt.Errorf("%w: nested deeper than %d elements", ErrMalformedDescription, maxXMLDepth)
			}
		case xml.EndElement:
			depth--
		}
	}
}

func convertDevice(x *xmlDevice, base *url.URL, nDev, nSvc *int) (Device, error) {
	*nDev++
	if *nDev > maxDevices {
		return Device{}, fmt.Errorf("%w: more than %d devices", ErrMalformedDescription, maxDevices)
	}
	d := Device{
		DeviceType:   strings.TrimSpace(x.DeviceType),
		FriendlyName: strings.TrimSpace(x.FriendlyName),
		Manufacturer: strings.TrimSpace(x.Manufacturer),
		ModelName:    strings.TrimSpace(x.ModelName),
		ModelNumber:  strings.TrimSpace(x.ModelNumber),
		SerialNumber: strings.TrimSpace(x.SerialNumber),
		UDN:          strings.TrimSpace(x.UDN),
	}
	for i := range x.Services {
		*nSvc++
		if *nSvc > maxServices {
			return Device{}, fmt.Errorf("%w: more than %d services", ErrMalformedDescription, maxServices)
		}
		s := &x.Services[i]
		d.Services = append(d.Services, Service{
			Type:        strings.TrimSpace(s.ServiceType),
			ID:          strings.TrimSpace(s.ServiceID),
			ControlURL:  resolveURL(base, s.ControlURL),
			EventSubURL: resolveURL(base, s.EventSubURL),
			SCPDURL:     resolveURL(base, s.SCPDURL),
		})
	}
	for i := range x.Devices {
		sub, err := convertDevice(&x.Devices[i], base, nDev, nSvc)
		if err != nil {
			return Device{}, err
		}
		d.Devices = append(d.Devices, sub)
	}
	return d, nil
}

// resolveURL resolves ref against base. It returns nil for an empty or
// unparsable ref.
func resolveURL(base *url.URL, ref string) *url.URL {
	ref = strings.TrimSpace(ref)
	if ref == "" {
		return nil
	}
	u, err := url.Parse(ref)
	if err != nil {
		return nil
	}
	if u.Scheme != "" && u.Scheme != "http" && u.Scheme != "https" {
		// Broadcom-SDK firmwares (e.g. Linksys, some D-Link) use paths
		// such as "uuid:0000e068-20a0/WANIPConnection:1" without a
		// leading slash, which url.Parse reads as scheme "uuid". They
		// are relative paths.
		if u, err = url.Parse("./" + ref); err != nil {
			return nil
		}
	}
	return base.ResolveReference(u)
}

// walk calls fn for d and every embedded device, depth first, with the
// chain of devices from the root to the device (the device last). fn must
// not keep path; it is reused.
// Depth is bounded by maxXMLDepth through ParseDescription.
func (d *Device) walk(path []*Device, fn func(path []*Device)) {
	path = append(path, d)
	fn(path)
	for i := range d.Devices {
		d.Devices[i].walk(path, fn)
	}
}
