package upnp

import (
	"net/http"
	"runtime"
	"sync"
	"weak"
)

// maxResponseHeaderBytes bounds the response header of every HTTP reply
// from a device (description, SOAP, GENA). Real gateways send well under
// 1 KiB; net/http's own default is 1 MiB.
const maxResponseHeaderBytes = 16 << 10

// gatewayClient returns the client to talk to a device with: the package
// default when hc is nil, else a copy of hc that never follows a redirect
// and, when its Transport is an *http.Transport (or nil, meaning
// http.DefaultTransport), reads at most maxResponseHeaderBytes of response
// header. hc's Timeout, Jar and the rest of its Transport's settings are
// kept. A Transport of another type is used as it is: bounding its header
// size is up to it. The clone is made at the first use of a transport and
// shared from then on, so later changes to the caller's transport, and its
// CloseIdleConnections, do not reach it.
//
// Why: a redirect from a control URL would make net/http re-send the SOAP
// body (307/308) or a GET (301-303) to wherever the device says, bypassing
// urlPolicy; and the header is the one part of a reply the package cannot
// bound itself.
func gatewayClient(hc *http.Client) *http.Client {
	if hc == nil {
		return defaultHTTPClient
	}
	c := *hc
	c.CheckRedirect = noRedirect
	rt := c.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	if tr, ok := rt.(*http.Transport); ok {
		c.Transport = boundedTransport(tr)
	}
	return &c
}

// noRedirect makes a client return a 3xx reply instead of following it.
func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// bounded maps a caller's *http.Transport to its clone with the header
// bound, so that every client built from one transport (each
// NewWANConnection, each Discover) shares one connection pool instead of
// leaving idle connections behind in a clone per call. Keys are weak: when
// the caller's transport is collected, the entry goes and the clone's idle
// connections are closed.
var bounded struct {
	sync.Mutex
	m map[weak.Pointer[http.Transport]]*http.Transport
}

// boundedTransport returns tr if it already bounds response headers to
// maxResponseHeaderBytes or less (NewHTTPClient's transports do), else its
// shared clone that does.
func boundedTransport(tr *http.Transport) *http.Transport {
	if tr.MaxResponseHeaderBytes > 0 && tr.MaxResponseHeaderBytes <= maxResponseHeaderBytes {
		return tr
	}
	key := weak.Make(tr)
	bounded.Lock()
	defer bounded.Unlock()
	if c, ok := bounded.m[key]; ok {
		return c
	}
	c := tr.Clone()
	c.MaxResponseHeaderBytes = maxResponseHeaderBytes
	if bounded.m == nil {
		bounded.m = make(map[weak.Pointer[http.Transport]]*http.Transport)
	}
	bounded.m[key] = c
	runtime.AddCleanup(tr, dropBounded, key)
	return c
}

// dropBounded forgets the clone of a collected transport.
func dropBounded(key weak.Pointer[http.Transport]) {
	bounded.Lock()
	c := bounded.m[key]
	delete(bounded.m, key)
	bounded.Unlock()
	if c != nil {
		c.CloseIdleConnections()
	}
}
