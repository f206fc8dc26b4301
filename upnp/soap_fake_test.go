package upnp

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// fakeRequest is one SOAP request as seen by fakeDevice, decoded with
// encoding/xml independently of the client's own parser.
type fakeRequest struct {
	Action      string // local name of the Body's child
	SOAPAction  string // raw header
	ContentType string
	ServiceNS   string // namespace of the action element
	Args        []soapArg
	RemoteAddr  string
	Body        string
}

func (r fakeRequest) arg(name string) string {
	for _, a := range r.Args {
		if a.Name == name {
			return a.Value
		}
	}
	return ""
}

func (r fakeRequest) argNames() []string {
	var n []string
	for _, a := range r.Args {
		n = append(n, a.Name)
	}
	return n
}

type anyElement struct {
	XMLName  xml.Name
	Children []anyElement `xml:",any"`
	Text     string       `xml:",chardata"`
}

// decodeFakeRequest parses a SOAP request envelope.
func decodeFakeRequest(body []byte) (fakeRequest, error) {
	var env anyElement
	if err := xml.Unmarshal(body, &env); err != nil {
		return fakeRequest{}, err
	}
	if env.XMLName.Local != "Envelope" || env.XMLName.Space != soapEnvelopeNS {
		return fakeRequest{}, fmt.Errorf("root is %v", env.XMLName)
	}
	if len(env.Children) != 1 || env.Children[0].XMLName.Local != "Body" || len(env.Children[0].Children) != 1 {
		return fakeRequest{}, fmt.Errorf("bad body")
	}
	act := env.Children[0].Children[0]
	req := fakeRequest{Action: act.XMLName.Local, ServiceNS: act.XMLName.Space}
	for _, c := range act.Children {
		if len(c.Children) != 0 {
			return fakeRequest{}, fmt.Errorf("argument %s has child elements", c.XMLName.Local)
		}
		req.Args = append(req.Args, soapArg{c.XMLName.Local, c.Text})
	}
	return req, nil
}

// fakeReply is what a fakeDevice handler answers.
type fakeReply struct {
	Status int    // 0 means 200 (or 500 when Body is a fault)
	Body   string // full body
}

// fakeDevice is an HTTP SOAP server on loopback.
type fakeDevice struct {
	t      testing.TB
	srv    *httptest.Server
	mu     sync.Mutex
	reqs   []fakeRequest
	handle func(fakeRequest) fakeReply
}

func newFakeDevice(t testing.TB, handle func(fakeRequest) fakeReply) *fakeDevice {
	t.Helper()
	f := &fakeDevice{t: t, handle: handle}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeDevice) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	req, err := decodeFakeRequest(body)
	if err != nil {
		f.t.Errorf("fake device: bad request: %v\n%s", err, body)
		http.Error(w, "bad", http.StatusBadRequest)
		return
	}
	req.SOAPAction = r.Header.Get("SOAPAction")
	req.ContentType = r.Header.Get("Content-Type")
	req.RemoteAddr = r.RemoteAddr
	req.Body = string(body)
	f.mu.Lock()
	f.reqs = append(f.reqs, req)
	f.mu.Unlock()
	rep := f.handle(req)
	status := rep.Status
	if status == 0 {
		status = http.StatusOK
		if strings.Contains(rep.Body, "Fault>") {
			status = http.StatusInternalServerError
		}
	}
	w.Header().Set("Content-Type", `text/xml; charset="utf-8"`)
	w.WriteHeader(status)
	io.WriteString(w, rep.Body)
}

func (f *fakeDevice) requests() []fakeRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fakeRequest(nil), f.reqs...)
}

// service returns a Service of type st whose control URL is the fake.
func (f *fakeDevice) service(st string) Service {
	u, _ := url.Parse(f.srv.URL + "/ctl/IPConn")
	return Service{Type: st, ID: "urn:upnp-org:serviceId:Fake", ControlURL: u}
}

const (
	urnIP1   = "urn:schemas-upnp-org:service:WANIPConnection:1"
	urnIP2   = "urn:schemas-upnp-org:service:WANIPConnection:2"
	urnPPP1  = "urn:schemas-upnp-org:service:WANPPPConnection:1"
	urnFW1   = "urn:schemas-upnp-org:service:WANIPv6FirewallControl:1"
	urnCIC1  = "urn:schemas-upnp-org:service:WANCommonInterfaceConfig:1"
	urnDSLIP = "urn:dslforum-org:service:WANIPConnection:1"
)

// okReply builds a miniupnpd-shaped response with escaped argument values.
func okReply(action, ns string, kv ...string) fakeReply {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0"?>` + "\r\n" + `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body>`)
	fmt.Fprintf(&b, `<u:%sResponse xmlns:u="%s">`, action, ns)
	for i := 0; i+1 < len(kv); i += 2 {
		fmt.Fprintf(&b, "<%s>", kv[i])
		xml.EscapeText(&b, []byte(kv[i+1]))
		fmt.Fprintf(&b, "</%s>", kv[i])
	}
	fmt.Fprintf(&b, `</u:%sResponse></s:Body></s:Envelope>`, action)
	return fakeReply{Body: b.String()}
}

// faultReply builds a UPnP fault.
func faultReply(code int, desc string) fakeReply {
	return fakeReply{Body: fmt.Sprintf(`<?xml version="1.0"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body><s:Fault><faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring><detail><UPnPError xmlns="urn:schemas-upnp-org:control-1-0"><errorCode>%d</errorCode><errorDescription>%s</errorDescription></UPnPError></detail></s:Fault></s:Body></s:Envelope>`, code, desc)}
}

// fixture reads testdata/name.
func fixture(t testing.TB, name string) string {
	t.Helper()
	b, err := readTestdata(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
