package upnp

import (
	"bytes"
	"encoding/xml"
)

// soapArg is one named action argument. Arguments are sent in slice order,
// which must be the order of the action's argument list in the service
// specification (some routers, e.g. older Broadcom and Realtek IGDs,
// read arguments by position, not by name).
type soapArg struct {
	Name  string
	Value string
}

const (
	soapEnvelopeNS = "http://schemas.xmlsoap.org/soap/envelope/"
	soapEncodingNS = "http://schemas.xmlsoap.org/soap/encoding/"
)

// buildEnvelope encodes a SOAP 1.1 request for action of serviceType. Every
// name and value goes through encoding/xml, so user text (descriptions,
// hosts) is always escaped and can never inject markup.
func buildEnvelope(serviceType, action string, args []soapArg) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	enc := xml.NewEncoder(&buf)
	env := xml.StartElement{
		Name: xml.Name{Local: "s:Envelope"},
		Attr: []xml.Attr{
			{Name: xml.Name{Local: "xmlns:s"}, Value: soapEnvelopeNS},
			{Name: xml.Name{Local: "s:encodingStyle"}, Value: soapEncodingNS},
		},
	}
	body := xml.StartElement{Name: xml.Name{Local: "s:Body"}}
	act := xml.StartElement{
		Name: xml.Name{Local: "u:" + action},
		Attr: []xml.Attr{{Name: xml.Name{Local: "xmlns:u"}, Value: serviceType}},
	}
	toks := []xml.Token{env, body, act}
	for _, a := range args {
		el := xml.StartElement{Name: xml.Name{Local: a.Name}}
		toks = append(toks, el, xml.CharData(a.Value), el.End())
	}
	toks = append(toks, act.End(), body.End(), env.End())
	for _, t := range toks {
		if err := enc.EncodeToken(t); err != nil {
			return nil, err
		}
	}
	if err := enc.Flush(); err != nil {
		return nil, err
	}
	buf.WriteString("\r\n")
	return buf.Bytes(), nil
}
