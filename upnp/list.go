package upnp

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// maxListEntries bounds how many entries parsePortMappingList accepts from
// one reply.
const maxListEntries = 8192

// GetListOfPortMappings (IGDv2) returns the mappings of proto with external
// ports in [start, end], at most max of them (max 0 sends 0, "all"). An
// empty range yields an empty slice (devices answer either an empty list or
// 730 PortMappingNotFound; both become nil, nil).
//
// Beware: miniupnpd 2.3.1 crashes when the range holds more than
// MaxSafePerReply (128) mappings whatever max says; ListPortMappings
// windows the ranges safely.
func (c *WANConnection) GetListOfPortMappings(ctx context.Context, start, end uint16, proto string, manage bool, max int) ([]PortMapping, error) {
	if c.Version < 2 {
		return nil, fmt.Errorf("%w: GetListOfPortMappings needs WANIPConnection:2", ErrNotSupported)
	}
	p, err := normProtocol(proto)
	if err != nil {
		return nil, err
	}
	if max < 0 || max > 65535 {
		return nil, fmt.Errorf("upnp: GetListOfPortMappings: max %d out of range", max)
	}
	r, err := c.soap.call(ctx, "GetListOfPortMappings", []soapArg{
		{"NewStartPort", strconv.Itoa(int(start))},
		{"NewEndPort", strconv.Itoa(int(end))},
		{"NewProtocol", p},
		{"NewManage", boolArg(manage)},
		{"NewNumberOfPorts", strconv.Itoa(max)},
	}, maxListingReply)
	if errors.Is(err, ErrPortMappingNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	v, err := r.require("NewPortListing")
	if err != nil {
		return nil, err
	}
	list, err := parsePortMappingList(v)
	if err != nil {
		return nil, fmt.Errorf("%w: GetListOfPortMappings: %v", ErrMalformedResponse, err)
	}
	return list, nil
}

// parsePortMappingList decodes a PortMappingList document (the value of
// NewPortListing, already unwrapped from CDATA or unescaped from text by
// the SOAP parser). Element prefixes are ignored. An empty string is an
// empty list. Entries whose ports or addresses do not parse are an error.
func parsePortMappingList(s string) ([]PortMapping, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	b := []byte(s)
	d := newSOAPDecoder(b)
	var out []PortMapping
	depth := 0
	sawList := false
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			if depth > maxSOAPDepth {
				return nil, errors.New("nesting too deep")
			}
			switch {
			case t.Name.Local == "PortMappingList":
				sawList = true
			case t.Name.Local == "PortMappingEntry":
				fields, err := parseArgs(d, b)
				if err != nil {
					return nil, err
				}
				depth--
				get := soapReply{Args: fields}.get
				pm, err := mappingFromFields(get)
				if err != nil {
					return nil, err
				}
				if len(out) >= maxListEntries {
					return nil, fmt.Errorf("more than %d entries", maxListEntries)
				}
				out = append(out, pm)
			}
		case xml.EndElement:
			depth--
		}
	}
	if !sawList {
		return nil, errors.New("no PortMappingList element")
	}
	return out, nil
}
