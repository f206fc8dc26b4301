package portmaptest

import (
	"net/netip"
	"slices"
	"time"

	"github.com/portmap-dev/portmap/natpmp"
	"github.com/portmap-dev/portmap/pcp"
)

// maxRequests bounds the capture: beyond it the oldest records go.
const maxRequests = 10000

// Request is the record of one request the gateway received.
type Request struct {
	// Time is when it arrived, on the gateway's clock.
	Time time.Time
	// Protocol is UPnP, NATPMP or PCP.
	Protocol Protocol
	// Action names what was asked, as FailNext takes it: a SOAP action
	// ("AddPortMapping"), "natpmp:address", "natpmp:map", "pcp:announce",
	// "pcp:map", "pcp:peer", "ssdp:search", "http:description",
	// "gena:subscribe", "gena:renew", "gena:unsubscribe". Requests that
	// could not be decoded are "natpmp:malformed", "pcp:malformed" or
	// "soap:malformed".
	Action string
	// From is the sender's address and port.
	From netip.AddrPort
	// Code is the answer: 0 for success, else the protocol's result or
	// error code (UPnP error code; NAT-PMP or PCP result code; HTTP status
	// for http: and gena: actions, 200 on success), or Drop when nothing
	// was answered.
	Code int
	// Injected reports that Code came from FailNext, FailAlways, DropNext
	// or the drop rate rather than from the gateway's logic.
	Injected bool
	// NATPMP is the decoded NAT-PMP request.
	NATPMP *natpmp.Request
	// PCP is the decoded PCP request (possibly partial if it was refused
	// as malformed).
	PCP *pcp.Request
	// ServiceType and SOAP are the service and the arguments of a SOAP
	// action, in the order received.
	ServiceType string
	SOAP        []Arg
	// SearchTarget is the ST of an SSDP search.
	SearchTarget string
}

// Arg is one SOAP argument.
type Arg struct {
	Name  string
	Value string
}

// Get returns the value of the argument called name in r.SOAP.
func (r *Request) Get(name string) (string, bool) {
	for _, a := range r.SOAP {
		if a.Name == name {
			return a.Value, true
		}
	}
	return "", false
}

// recordLocked appends r to the capture and logs it.
func (g *Gateway) recordLocked(r Request) {
	if len(g.requests) >= maxRequests {
		g.requests = slices.Delete(g.requests, 0, len(g.requests)-maxRequests+1)
	}
	g.requests = append(g.requests, r)
	g.cfg.Logger.Debug("portmaptest: request",
		"protocol", string(r.Protocol), "action", r.Action, "from", r.From.String(),
		"code", r.Code, "injected", r.Injected)
}

// Requests returns a copy of the requests received so far, oldest first
// (at most the last 10000).
func (g *Gateway) Requests() []Request {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.requests)
}

// RequestsFor returns the requests whose Action is action.
func (g *Gateway) RequestsFor(action string) []Request {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []Request
	for _, r := range g.requests {
		if r.Action == action {
			out = append(out, r)
		}
	}
	return out
}

// ClearRequests forgets the requests received so far.
func (g *Gateway) ClearRequests() {
	g.mu.Lock()
	g.requests = nil
	g.mu.Unlock()
}
