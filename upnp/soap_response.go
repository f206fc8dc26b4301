package upnp

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// soapReply is the decoded body of a successful action response: its output
// arguments in document order.
type soapReply struct {
	Action string
	Args   []soapArg
}

// get returns the value of the named output argument. The lookup is exact
// first and then case-insensitive (some routers, e.g. certain TP-Link
// firmwares, change the case of argument names).
func (r soapReply) get(name string) (string, bool) {
	for _, a := range r.Args {
		if a.Name == name {
			return a.Value, true
		}
	}
	for _, a := range r.Args {
		if strings.EqualFold(a.Name, name) {
			return a.Value, true
		}
	}
	return "", false
}

// maxSOAPDepth bounds element nesting while parsing replies.
const maxSOAPDepth = 64

// newSOAPDecoder returns a lenient decoder: non-strict (routers send bare
// '&' in descriptions), HTML entities known, and ISO-8859-1 / US-ASCII
// declarations accepted (some Zyxel and old Linksys firmwares declare
// ISO-8859-1).
func newSOAPDecoder(b []byte) *xml.Decoder {
	d := xml.NewDecoder(bytes.NewReader(b))
	d.Strict = false
	d.Entity = xml.HTMLEntity
	d.CharsetReader = soapCharsetReader
	return d
}

func soapCharsetReader(charset string, r io.Reader) (io.Reader, error) {
	switch strings.ToLower(strings.TrimSpace(charset)) {
	case "utf-8", "utf8", "us-ascii", "ascii", "":
		return r, nil
	case "iso-8859-1", "iso8859-1", "latin1", "latin-1", "windows-1252", "cp1252":
		b, err := io.ReadAll(r)
		if err != nil {
			return nil, err
		}
		var out []byte
		for _, c := range b {
			out = utf8.AppendRune(out, rune(c))
		}
		return bytes.NewReader(out), nil
	}
	return nil, fmt.Errorf("unsupported charset %q", charset)
}

// parseSOAPReply decodes a SOAP envelope. It returns the reply, or a
// *SOAPError when the body holds a UPnP fault, or an error wrapping
// ErrMalformedResponse. Namespace prefixes (s:, SOAP-ENV:, u:, m:, none)
// are ignored: only local names matter.
func parseSOAPReply(body []byte, action string) (soapReply, error) {
	d := newSOAPDecoder(body)
	// Find Envelope > Body > first element.
	path := 0 // 0: want Envelope, 1: want Body, 2: want action element
	depth := 0
	for {
		tok, err := d.Token()
		if err != nil {
			if err == io.EOF {
				return soapReply{}, fmt.Errorf("%w: %s: no SOAP Body", ErrMalformedResponse, action)
			}
			return soapReply{}, fmt.Errorf("%w: %s: %v", ErrMalformedResponse, action, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			if depth > maxSOAPDepth {
				return soapReply{}, fmt.Errorf("%w: %s: nesting too deep", ErrMalformedResponse, action)
			}
			switch {
			case path == 0 && t.Name.Local == "Envelope":
				path = 1
			case path == 1 && t.Name.Local == "Body":
				path = 2
			case path == 2:
				if t.Name.Local == "Fault" {
					return soapReply{}, parseFault(d, body, action)
				}
				args, err := parseArgs(d, body)
				if err != nil {
					return soapReply{}, fmt.Errorf("%w: %s: %v", ErrMalformedResponse, action, err)
				}
				return soapReply{Action: strings.TrimSuffix(t.Name.Local, "Response"), Args: args}, nil
			default:
				if err := d.Skip(); err != nil {
					return soapReply{}, fmt.Errorf("%w: %s: %v", ErrMalformedResponse, action, err)
				}
				depth--
			}
		case xml.EndElement:
			depth--
			if path == 2 && depth < 2 {
				// Body closed without a child: an empty response (some
				// routers send <s:Body/> for actions without output).
				return soapReply{Action: action}, nil
			}
		}
	}
}

// parseArgs reads the children of the response element up to its end tag.
// A child holding only text yields that text (CDATA included). A child
// holding markup (a router that embeds NewPortListing unescaped) yields its
// raw inner XML.
func parseArgs(d *xml.Decoder, body []byte) ([]soapArg, error) {
	var args []soapArg
	for {
		tok, err := d.Token()
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			v, err := elementValue(d, body)
			if err != nil {
				return nil, err
			}
			args = append(args, soapArg{Name: t.Name.Local, Value: v})
		case xml.EndElement:
			return args, nil
		}
	}
}

// elementValue returns the content of the element whose start tag was just
// read: its character data, or its raw inner bytes if it contains elements.
func elementValue(d *xml.Decoder, body []byte) (string, error) {
	start := d.InputOffset()
	var text strings.Builder
	nested := false
	depth := 0
	for {
		pos := d.InputOffset()
		tok, err := d.Token()
		if err != nil {
			return "", err
		}
		switch t := tok.(type) {
		case xml.CharData:
			if depth == 0 {
				text.Write(t)
			}
		case xml.StartElement:
			nested = true
			depth++
			if depth > maxSOAPDepth {
				return "", errors.New("nesting too deep")
			}
		case xml.EndElement:
			if depth == 0 {
				if nested && start >= 0 && pos <= int64(len(body)) && start <= pos {
					return string(body[start:pos]), nil
				}
				return text.String(), nil
			}
			depth--
		}
	}
}

// parseFault reads a SOAP Fault element and returns a *SOAPError, or an
// error wrapping ErrMalformedResponse when it carries no UPnPError code.
func parseFault(d *xml.Decoder, body []byte, action string) error {
	var code, desc, faultString string
	haveCode := false
	depth := 1
	for depth > 0 {
		tok, err := d.Token()
		if err != nil {
			break
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			if depth > maxSOAPDepth {
				return fmt.Errorf("%w: %s: nesting too deep", ErrMalformedResponse, action)
			}
			switch t.Name.Local {
			case "errorCode", "faultstring", "errorDescription":
				v, err := elementValue(d, body)
				if err != nil {
					return fmt.Errorf("%w: %s: %v", ErrMalformedResponse, action, err)
				}
				depth--
				v = strings.TrimSpace(v)
				switch t.Name.Local {
				case "errorCode":
					code, haveCode = v, true
				case "errorDescription":
					desc = v
				default:
					faultString = v
				}
			}
		case xml.EndElement:
			depth--
		}
	}
	if !haveCode {
		return fmt.Errorf("%w: %s: SOAP fault without UPnPError code (faultstring %q)", ErrMalformedResponse, action, faultString)
	}
	n, err := strconv.Atoi(code)
	if err != nil || n < 0 || n > 9999 {
		return fmt.Errorf("%w: %s: bad UPnP errorCode %q", ErrMalformedResponse, action, code)
	}
	return &SOAPError{Code: n, Description: desc, Action: action}
}
