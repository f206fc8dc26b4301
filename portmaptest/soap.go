package portmaptest

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/portmap-dev/portmap/upnp"
)

// SOAP request limits (the body itself is bounded by maxSOAPRequest).
const (
	maxSOAPDepth = 16
	maxSOAPArgs  = 32
)

const (
	soapEnvelopeNS = "http://schemas.xmlsoap.org/soap/envelope/"
	soapEncodingNS = "http://schemas.xmlsoap.org/soap/encoding/"
	controlNS      = "urn:schemas-upnp-org:control-1-0"
)

// soapCall is a decoded SOAP action request.
type soapCall struct {
	serviceType string // namespace of the action element
	action      string
	args        []Arg
}

// errSOAP is wrapped by parseSOAPRequest's errors.
var errSOAP = errors.New("portmaptest: bad SOAP request")

// parseSOAPRequest decodes a SOAP 1.1 action request: Envelope > Body >
// <u:Action xmlns:u="service type"> with one element per argument holding
// text only. The parser is strict XML on purpose: a client that does not
// escape what it sends (a description with "<" or "&") is caught here,
// rather than tolerated the way some routers do.
func parseSOAPRequest(body []byte) (soapCall, error) {
	d := xml.NewDecoder(bytes.NewReader(body))
	d.Strict = true
	d.CharsetReader = func(charset string, r io.Reader) (io.Reader, error) {
		if strings.EqualFold(charset, "us-ascii") {
			return r, nil
		}
		return nil, fmt.Errorf("charset %q", charset)
	}
	var call soapCall
	depth := 0
	state := 0 // 0: want Envelope, 1: want Body, 2: want action, 3: in action, 4: done
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return call, fmt.Errorf("%w: %v", errSOAP, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			if depth > maxSOAPDepth {
				return call, fmt.Errorf("%w: nested too deep", errSOAP)
			}
			switch {
			case state == 0 && t.Name.Local == "Envelope" && t.Name.Space == soapEnvelopeNS:
				state = 1
			case state == 1 && t.Name.Local == "Body" && t.Name.Space == soapEnvelopeNS:
				state = 2
			case state == 1 && t.Name.Local == "Header" && t.Name.Space == soapEnvelopeNS:
				if err := d.Skip(); err != nil {
					return call, fmt.Errorf("%w: %v", errSOAP, err)
				}
				depth--
			case state == 2:
				call.serviceType, call.action = t.Name.Space, t.Name.Local
				state = 3
			case state == 3:
				if len(call.args) >= maxSOAPArgs {
					return call, fmt.Errorf("%w: more than %d arguments", errSOAP, maxSOAPArgs)
				}
				v, err := textOf(d)
				if err != nil {
					return call, err
				}
				depth--
				call.args = append(call.args, Arg{Name: t.Name.Local, Value: v})
			default:
				return call, fmt.Errorf("%w: unexpected element <%s>", errSOAP, t.Name.Local)
			}
		case xml.EndElement:
			depth--
			if state == 3 && depth == 2 {
				state = 4
			}
		case xml.CharData:
			if state != 3 && len(bytes.TrimSpace(t)) > 0 {
				return call, fmt.Errorf("%w: stray text", errSOAP)
			}
		}
	}
	if state != 4 {
		return call, fmt.Errorf("%w: no action in Envelope/Body", errSOAP)
	}
	return call, nil
}

// textOf returns the text of the element just opened, up to its end tag.
// An element inside an argument is an error.
func textOf(d *xml.Decoder) (string, error) {
	var b strings.Builder
	for {
		tok, err := d.Token()
		if err != nil {
			return "", fmt.Errorf("%w: %v", errSOAP, err)
		}
		switch t := tok.(type) {
		case xml.CharData:
			b.Write(t)
		case xml.StartElement:
			return "", fmt.Errorf("%w: element <%s> inside an argument", errSOAP, t.Name.Local)
		case xml.EndElement:
			return b.String(), nil
		}
	}
}

// soapActionHeader splits a SOAPAction header, "urn:...:service:X:1#Action"
// with or without quotes.
func soapActionHeader(h string) (serviceType, action string, ok bool) {
	h = strings.TrimSpace(h)
	if len(h) >= 2 && h[0] == '"' && h[len(h)-1] == '"' {
		h = h[1 : len(h)-1]
	}
	return strings.Cut(h, "#")
}

// sameServiceType reports whether a request for service type req may be
// served by a service of type ours: same type, version at most ours.
func sameServiceType(req, ours string) bool {
	rb, rv, ok1 := splitTypeVersion(req)
	ob, ov, ok2 := splitTypeVersion(ours)
	return ok1 && ok2 && rb == ob && rv <= ov
}

// faultDescriptions are miniupnpd's errorDescription texts where they are
// not the code's name.
var faultDescriptions = map[int]string{
	401: "Invalid Action",
	402: "Invalid Args",
	606: "Action not authorized",
}

// encodeSOAPResponse builds the reply to action with the output arguments
// out, shaped like miniupnpd 2.3.1's. Everything goes through
// encoding/xml, so no value can inject markup.
func encodeSOAPResponse(serviceType, action string, out []Arg) []byte {
	el := xml.StartElement{
		Name: xml.Name{Local: "u:" + action + "Response"},
		Attr: []xml.Attr{{Name: xml.Name{Local: "xmlns:u"}, Value: serviceType}},
	}
	toks := []xml.Token{el}
	for _, a := range out {
		e := xml.StartElement{Name: xml.Name{Local: a.Name}}
		toks = append(toks, e, xml.CharData(a.Value), e.End())
	}
	return encodeEnvelope(append(toks, el.End()), true)
}

// encodeSOAPFault builds a UPnP error reply (UDA 1.1 §3.2.2).
func encodeSOAPFault(code int) []byte {
	desc, ok := faultDescriptions[code]
	if !ok {
		desc = upnp.ErrorCode(code).String()
	}
	fault := xml.StartElement{Name: xml.Name{Local: "s:Fault"}}
	text := func(name, v string) []xml.Token {
		e := xml.StartElement{Name: xml.Name{Local: name}}
		return []xml.Token{e, xml.CharData(v), e.End()}
	}
	detail := xml.StartElement{Name: xml.Name{Local: "detail"}}
	upnpErr := xml.StartElement{
		Name: xml.Name{Local: "UPnPError"},
		Attr: []xml.Attr{{Name: xml.Name{Local: "xmlns"}, Value: controlNS}},
	}
	toks := []xml.Token{fault}
	toks = append(toks, text("faultcode", "s:Client")...)
	toks = append(toks, text("faultstring", "UPnPError")...)
	toks = append(toks, detail, upnpErr)
	toks = append(toks, text("errorCode", strconv.Itoa(code))...)
	toks = append(toks, text("errorDescription", desc)...)
	toks = append(toks, upnpErr.End(), detail.End(), fault.End())
	return encodeEnvelope(toks, false)
}

// encodeEnvelope wraps body tokens in <s:Envelope><s:Body>. As miniupnpd's,
// replies have an XML declaration and a final CRLF, faults neither.
func encodeEnvelope(body []xml.Token, decl bool) []byte {
	var b bytes.Buffer
	if decl {
		b.WriteString(`<?xml version="1.0"?>` + "\r\n")
	}
	enc := xml.NewEncoder(&b)
	env := xml.StartElement{
		Name: xml.Name{Local: "s:Envelope"},
		Attr: []xml.Attr{
			{Name: xml.Name{Local: "xmlns:s"}, Value: soapEnvelopeNS},
			{Name: xml.Name{Local: "s:encodingStyle"}, Value: soapEncodingNS},
		},
	}
	sb := xml.StartElement{Name: xml.Name{Local: "s:Body"}}
	toks := append([]xml.Token{env, sb}, body...)
	toks = append(toks, sb.End(), env.End())
	for _, t := range toks {
		if err := enc.EncodeToken(t); err != nil {
			return nil // cannot happen: names are constants, values CharData
		}
	}
	if err := enc.Flush(); err != nil {
		return nil
	}
	if decl {
		b.WriteString("\r\n")
	}
	return b.Bytes()
}

// serveControl serves one SOAP action posted to svc's control URL.
func (g *Gateway) serveControl(w http.ResponseWriter, r *http.Request, svc serviceInfo, from netip.AddrPort) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxSOAPRequest))
	var call soapCall
	code := 0
	if err != nil {
		code = int(upnp.ErrInvalidArgs)
	} else if call, err = parseSOAPRequest(body); err != nil {
		code = int(upnp.ErrInvalidArgs)
	}
	if code == 0 {
		// The SOAPAction header, when present, must name the same action
		// of this service.
		hType, hAction, hok := soapActionHeader(r.Header.Get("SOAPAction"))
		switch {
		case r.Header.Get("SOAPAction") != "" && (!hok || hAction != call.action || hType != call.serviceType):
			code = int(upnp.ErrInvalidAction)
		case !sameServiceType(call.serviceType, svc.typ):
			code = int(upnp.ErrInvalidAction)
		}
	}
	rec := Request{Protocol: UPnP, Action: call.action, From: from, ServiceType: call.serviceType, SOAP: call.args}
	if code != 0 && err != nil {
		rec.Action = "soap:malformed"
	}
	g.mu.Lock()
	now := g.now()
	g.tickLocked(now)
	rec.Time = now
	var out []Arg
	drop, injectedCode, injected := false, 0, false
	if code == 0 {
		drop, injectedCode, injected = g.decideLocked(call.action, false)
		switch {
		case drop:
		case injected:
			code = injectedCode
		default:
			out, code = g.soapActionLocked(svc, call, from.Addr(), now)
		}
	}
	rec.Code, rec.Injected = code, injected
	if drop {
		rec.Code = Drop
	}
	g.recordLocked(rec)
	delay := g.faults.delay
	g.mu.Unlock()
	if drop {
		hangUp(w)
		return
	}
	if !g.sleep(delay) {
		return
	}
	var reply []byte
	status := http.StatusOK
	if code != 0 {
		reply, status = encodeSOAPFault(code), http.StatusInternalServerError
	} else {
		reply = encodeSOAPResponse(svc.typ, call.action, out)
	}
	w.Header().Set("Content-Type", `text/xml; charset="utf-8"`)
	w.Header().Set("Content-Length", strconv.Itoa(len(reply)))
	w.Header().Set("EXT", "")
	w.WriteHeader(status)
	_, _ = w.Write(reply)
}

// soapActionLocked runs one action of svc for caller and returns its output
// arguments or a UPnP error code.
func (g *Gateway) soapActionLocked(svc serviceInfo, call soapCall, caller netip.Addr, now time.Time) ([]Arg, int) {
	a := argList(call.args)
	if code := g.checkArgs(call.action, a); code != 0 {
		return nil, code
	}
	switch svc.kind {
	case svcIPConn:
		return g.ipConnActionLocked(call.action, a, caller, now)
	case svcFirewall:
		return g.firewallActionLocked(call.action, a, caller, now)
	case svcCommon:
		return g.commonActionLocked(call.action)
	}
	return nil, int(upnp.ErrInvalidAction)
}

// argList looks arguments up by name.
type argList []Arg

// get returns the first argument called name, and whether there is one.
func (a argList) get(name string) (string, bool) {
	for _, x := range a {
		if x.Name == name {
			return x.Value, true
		}
	}
	return "", false
}

var (
	mappingArgs = []string{"NewRemoteHost", "NewExternalPort", "NewProtocol", "NewInternalPort",
		"NewInternalClient", "NewEnabled", "NewPortMappingDescription", "NewLeaseDuration"}
	entryArgs   = []string{"NewRemoteHost", "NewExternalPort", "NewProtocol"}
	pinholeSpec = []string{"RemoteHost", "RemotePort", "InternalClient", "InternalPort", "Protocol"}
)

// actionArgs are the input arguments of the actions that have some, in
// the order of the service specifications (WANIPConnection:2,
// WANIPv6FirewallControl:1).
var actionArgs = map[string][]string{
	"AddPortMapping":              mappingArgs,
	"AddAnyPortMapping":           mappingArgs,
	"DeletePortMapping":           entryArgs,
	"GetSpecificPortMappingEntry": entryArgs,
	"DeletePortMappingRange":      {"NewStartPort", "NewEndPort", "NewProtocol", "NewManage"},
	"GetGenericPortMappingEntry":  {"NewPortMappingIndex"},
	"GetListOfPortMappings":       {"NewStartPort", "NewEndPort", "NewProtocol", "NewManage", "NewNumberOfPorts"},
	"GetOutboundPinholeTimeout":   pinholeSpec,
	"AddPinhole":                  append(slices.Clone(pinholeSpec), "LeaseTime"),
	"UpdatePinhole":               {"UniqueID", "NewLeaseTime"},
	"DeletePinhole":               {"UniqueID"},
	"GetPinholePackets":           {"UniqueID"},
	"CheckPinholeWorking":         {"UniqueID"},
}

// checkArgs refuses (402) a call that lacks one of the action's arguments
// or, with Config.ArgumentOrder, does not send exactly them in order.
func (g *Gateway) checkArgs(action string, a argList) int {
	want, ok := actionArgs[action]
	if !ok {
		return 0
	}
	for _, name := range want {
		if _, ok := a.get(name); !ok {
			return errInvalidArgs
		}
	}
	if g.cfg.ArgumentOrder {
		if len(a) != len(want) {
			return errInvalidArgs
		}
		for i, x := range a {
			if x.Name != want[i] {
				return errInvalidArgs
			}
		}
	}
	return 0
}
