package portmap

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portmap-dev/portmap/natpmp"
	"github.com/portmap-dev/portmap/pcp"
)

// This file holds the misbehaving servers of the hostile-gateway tests
// (hostile_test.go): a raw gateway whose every answer the test writes, and
// a trap listener that must never be connected to.

// rawExternalIP is the external address the raw gateway reports.
var rawExternalIP = netip.MustParseAddr("203.0.113.5")

// rawEpochBase is the raw gateway's epoch when it starts: two hours, so
// that an epoch going back by an hour stays positive.
const rawEpochBase = 7200

// udpFunc answers one datagram; good is the well-behaved answer (nil when
// there is none, e.g. for a malformed request).
type udpFunc func(g *rawGateway, pkt, good []byte, from netip.AddrPort)

// rawGateway is one UDP socket (SSDP, NAT-PMP, PCP) and one HTTP server
// (description, SOAP) on 127.0.0.1 with the same port number, like a
// portmaptest gateway, but every answer can be replaced by the test: the
// UDP handler decides what to send, from where and how often, and the HTTP
// handler what to serve. By default it behaves.
type rawGateway struct {
	t     *testing.T
	port  uint16
	udp   *net.UDPConn
	srv   *http.Server
	start time.Time

	udpFn      atomic.Pointer[udpFunc]
	httpFn     atomic.Pointer[http.HandlerFunc]
	location   atomic.Pointer[string] // LOCATION of SSDP replies
	epochShift atomic.Int64           // seconds added to the epoch (and UPnP uptime)
	bodyBytes  atomic.Int64           // body bytes written by the big and slow handlers

	closing chan struct{}
	wg      sync.WaitGroup

	mu     sync.Mutex
	udpIn  map[string]int    // datagrams received by kind: ssdp, natpmp, pcp, other
	httpIn []string          // "GET /desc.xml", "POST /ctl#GetExternalIPAddress"
	prev   map[string][]byte // the good answer before the last one, by kind
	last   map[string][]byte // the last good answer, by kind
	extra  map[netip.AddrPort]*net.UDPConn
}

// newRawGateway starts a raw gateway that behaves, and stops it when the
// test ends.
func newRawGateway(t *testing.T) *rawGateway {
	t.Helper()
	g := &rawGateway{
		t:       t,
		start:   time.Now(),
		closing: make(chan struct{}),
		udpIn:   map[string]int{},
		prev:    map[string][]byte{},
		last:    map[string][]byte{},
		extra:   map[netip.AddrPort]*net.UDPConn{},
	}
	var ln net.Listener
	for try := 0; ; try++ {
		uc, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, 0)))
		if err != nil {
			t.Fatal(err)
		}
		port := uc.LocalAddr().(*net.UDPAddr).AddrPort().Port()
		ln, err = net.Listen("tcp4", netip.AddrPortFrom(loopback, port).String())
		if err == nil {
			g.udp, g.port = uc, port
			break
		}
		uc.Close()
		if try == 20 {
			t.Fatalf("no port free for both UDP and TCP: %v", err)
		}
	}
	g.SetUDP(answerGood)
	g.SetHTTP(g.serveGood)
	g.SetLocation(g.url("/desc.xml"))
	g.srv = &http.Server{Handler: http.HandlerFunc(g.serveHTTP), ReadHeaderTimeout: 2 * time.Second}
	g.wg.Go(g.readLoop)
	g.wg.Go(func() { g.srv.Serve(ln) })
	t.Cleanup(g.close)
	return g
}

func (g *rawGateway) close() {
	close(g.closing)
	g.udp.Close()
	g.srv.Close()
	g.mu.Lock()
	for _, c := range g.extra {
		c.Close()
	}
	g.mu.Unlock()
	g.wg.Wait()
}

// options aims Discover at the raw gateway with one protocol. (The root
// package uses no UPnP cache for a gateway on its own port, so no other
// test's control URL is tried.)
func (g *rawGateway) options(p Protocol) Options {
	return Options{Gateway: loopback, GatewayPort: g.port, Protocols: []Protocol{p}}
}

func (g *rawGateway) url(path string) string {
	return fmt.Sprintf("http://%s%s", netip.AddrPortFrom(loopback, g.port), path)
}

// SetUDP replaces the UDP handler.
func (g *rawGateway) SetUDP(f udpFunc) { g.udpFn.Store(&f) }

// SetHTTP replaces the HTTP handler.
func (g *rawGateway) SetHTTP(f http.HandlerFunc) { g.httpFn.Store(&f) }

// SetLocation sets the LOCATION of the SSDP replies.
func (g *rawGateway) SetLocation(s string) { g.location.Store(&s) }

// ShiftEpoch moves the epoch of later answers by d seconds.
func (g *rawGateway) ShiftEpoch(d int64) { g.epochShift.Add(d) }

func (g *rawGateway) epoch() uint32 {
	return uint32(rawEpochBase + int64(time.Since(g.start)/time.Second) + g.epochShift.Load())
}

// Received counts the datagrams of a kind received so far.
func (g *rawGateway) Received(kind string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.udpIn[kind]
}

// HTTPRequests returns the HTTP requests received so far.
func (g *rawGateway) HTTPRequests() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.httpIn...)
}

// Previous returns the good answer of kind before the one to the datagram
// being handled: a stale reply to replay out of order.
func (g *rawGateway) Previous(kind string) []byte {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.prev[kind]
}

func datagramKind(pkt []byte) string {
	switch {
	case bytes.HasPrefix(pkt, []byte("M-SEARCH")):
		return "ssdp"
	case len(pkt) > 0 && pkt[0] == natpmp.Version:
		return "natpmp"
	case len(pkt) > 0 && pkt[0] == pcp.Version:
		return "pcp"
	}
	return "other"
}

func (g *rawGateway) readLoop() {
	buf := make([]byte, 64<<10)
	for {
		n, from, err := g.udp.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		pkt := append([]byte(nil), buf[:n]...)
		kind := datagramKind(pkt)
		good := g.goodAnswer(kind, pkt)
		g.mu.Lock()
		g.udpIn[kind]++
		if good != nil {
			g.prev[kind], g.last[kind] = g.last[kind], good
		}
		g.mu.Unlock()
		(*g.udpFn.Load())(g, pkt, good, from)
	}
}

// Send sends b to the client from the gateway's socket.
func (g *rawGateway) Send(b []byte, to netip.AddrPort) {
	if b != nil {
		g.udp.WriteToUDPAddrPort(b, to)
	}
}

// SendFrom sends b to the client from another socket bound to src (port 0:
// any port), as a spoofer or a confused gateway would.
func (g *rawGateway) SendFrom(src netip.AddrPort, b []byte, to netip.AddrPort) {
	g.mu.Lock()
	c := g.extra[src]
	if c == nil {
		var err error
		c, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(src))
		if err != nil {
			g.mu.Unlock()
			g.t.Errorf("raw gateway: binding %s: %v", src, err)
			return
		}
		g.extra[src] = c
	}
	g.mu.Unlock()
	if _, err := c.WriteToUDPAddrPort(b, to); err != nil {
		g.t.Errorf("raw gateway: sending from %s: %v", src, err)
	}
}

// answerGood is the UDP handler of a gateway that behaves.
func answerGood(g *rawGateway, _, good []byte, from netip.AddrPort) { g.Send(good, from) }

// goodAnswer computes what a well-behaved gateway answers to pkt.
func (g *rawGateway) goodAnswer(kind string, pkt []byte) []byte {
	switch kind {
	case "ssdp":
		return ssdpReply(*g.location.Load())
	case "natpmp":
		req, err := natpmp.ParseRequest(pkt)
		if err != nil {
			return nil
		}
		resp := natpmp.Response{Op: natpmp.OpReply | req.Op, Epoch: g.epoch()}
		switch {
		case req.Op == natpmp.OpExternalAddress:
			resp.ExternalAddr = rawExternalIP
		case req.Lifetime > 0:
			resp.InternalPort, resp.Lifetime = req.InternalPort, req.Lifetime
			resp.ExternalPort = firstNonZero(req.SuggestedExternalPort, req.InternalPort)
		default: // deletion: external port and lifetime 0
			resp.InternalPort = req.InternalPort
		}
		b, err := resp.MarshalBinary()
		if err != nil {
			g.t.Errorf("raw gateway: %v", err)
		}
		return b
	case "pcp":
		req, err := pcp.ParseRequest(pkt)
		if err != nil {
			return nil
		}
		resp := &pcp.Response{Version: pcp.Version, Opcode: req.Opcode, Result: pcp.Success,
			Lifetime: req.Lifetime, Epoch: g.epoch()}
		if req.Opcode != pcp.OpAnnounce {
			resp.HasData, resp.Data = true, req.Data
			if req.Lifetime > 0 {
				resp.Data.ExternalAddr = rawExternalIP
				resp.Data.ExternalPort = firstNonZero(req.Data.ExternalPort, req.Data.InternalPort)
			}
		}
		b, err := resp.MarshalBinary()
		if err != nil {
			g.t.Errorf("raw gateway: %v", err)
		}
		return b
	}
	return nil
}

// firstNonZero returns the first of its arguments that is not zero.
func firstNonZero(a, b uint16) uint16 {
	if a != 0 {
		return a
	}
	return b
}

// ssdpReply is an IGD's answer to an M-SEARCH, pointing at location.
func ssdpReply(location string) []byte {
	return []byte("HTTP/1.1 200 OK\r\n" +
		"CACHE-CONTROL: max-age=120\r\n" +
		"ST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\n" +
		"USN: uuid:4a3e1d2c-0000-4000-8000-00000000c0de::urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\n" +
		"EXT:\r\n" +
		"SERVER: hostile/1.0 UPnP/1.1 rawgateway/1.0\r\n" +
		"LOCATION: " + location + "\r\n" +
		"BOOTID.UPNP.ORG: 1\r\n\r\n")
}

// rawDescription is an IGD v1 description with one WANIPConnection whose
// control URL is controlURL.
func rawDescription(controlURL string) string {
	return `<?xml version="1.0"?>
<root xmlns="urn:schemas-upnp-org:device-1-0">
<specVersion><major>1</major><minor>0</minor></specVersion>
<device>
<deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:1</deviceType>
<friendlyName>raw hostile gateway</friendlyName>
<UDN>uuid:4a3e1d2c-0000-4000-8000-00000000c0de</UDN>
<deviceList><device>
<deviceType>urn:schemas-upnp-org:device:WANDevice:1</deviceType>
<UDN>uuid:4a3e1d2c-0000-4000-8000-00000000c0df</UDN>
<deviceList><device>
<deviceType>urn:schemas-upnp-org:device:WANConnectionDevice:1</deviceType>
<UDN>uuid:4a3e1d2c-0000-4000-8000-00000000c0e0</UDN>
<serviceList><service>
<serviceType>urn:schemas-upnp-org:service:WANIPConnection:1</serviceType>
<serviceId>urn:upnp-org:serviceId:WANIPConn1</serviceId>
<SCPDURL>/scpd.xml</SCPDURL>
<controlURL>` + controlURL + `</controlURL>
<eventSubURL>/evt</eventSubURL>
</service></serviceList>
</device></deviceList>
</device></deviceList>
</device>
</root>`
}

const (
	soapEnvelopeNS = "http://schemas.xmlsoap.org/soap/envelope/"
	wanIPConn1     = "urn:schemas-upnp-org:service:WANIPConnection:1"
)

// soapResponse is a SOAP envelope in namespace envNS holding the response
// element of action in namespace svcNS with inner as its content.
func soapResponse(envNS, svcNS, action, inner string) string {
	return `<?xml version="1.0"?>` + "\r\n" +
		`<s:Envelope xmlns:s="` + envNS + `" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/">` +
		`<s:Body><u:` + action + `Response xmlns:u="` + svcNS + `">` + inner +
		`</u:` + action + `Response></s:Body></s:Envelope>` + "\r\n"
}

// goodSOAP is a well-behaved answer to action, with uptime (seconds) in
// GetStatusInfo: UPnP's epoch.
func goodSOAP(action string, uptime uint32) string {
	inner := ""
	switch action {
	case "GetExternalIPAddress":
		inner = "<NewExternalIPAddress>" + rawExternalIP.String() + "</NewExternalIPAddress>"
	case "GetStatusInfo":
		inner = fmt.Sprintf("<NewConnectionStatus>Connected</NewConnectionStatus>"+
			"<NewLastConnectionError>ERROR_NONE</NewLastConnectionError><NewUptime>%d</NewUptime>", uptime)
	}
	return soapResponse(soapEnvelopeNS, wanIPConn1, action, inner)
}

// soapAction returns the action a SOAP request names.
func soapAction(r *http.Request) string {
	a := strings.Trim(r.Header.Get("SOAPAction"), `"`)
	_, a, _ = strings.Cut(a, "#")
	return a
}

func (g *rawGateway) serveHTTP(w http.ResponseWriter, r *http.Request) {
	// Read a bounded request body, so that the client's write never
	// waits on us.
	io.Copy(io.Discard, io.LimitReader(r.Body, 1<<20))
	what := r.Method + " " + r.URL.Path
	if a := soapAction(r); a != "" {
		what += "#" + a
	}
	g.mu.Lock()
	g.httpIn = append(g.httpIn, what)
	g.mu.Unlock()
	(*g.httpFn.Load())(w, r)
}

// serveGood is the HTTP handler of a gateway that behaves.
func (g *rawGateway) serveGood(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/desc.xml":
		w.Header().Set("Content-Type", `text/xml; charset="utf-8"`)
		io.WriteString(w, rawDescription("/ctl"))
	case r.Method == http.MethodPost && r.URL.Path == "/ctl":
		w.Header().Set("Content-Type", `text/xml; charset="utf-8"`)
		io.WriteString(w, goodSOAP(soapAction(r), g.epoch()))
	default:
		http.NotFound(w, r)
	}
}

// hostileFor serves bad for the requests that match (path, and SOAP action
// unless action is ""), and behaves otherwise.
func (g *rawGateway) hostileFor(path, action string, bad http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == path && (action == "" || soapAction(r) == action) {
			bad(w, r)
			return
		}
		g.serveGood(w, r)
	}
}

// serveBig writes a body of n bytes of filler after prefix, with a
// Content-Length header or chunked, until the client goes away.
func (g *rawGateway) serveBig(prefix string, n int64, withLength bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", `text/xml; charset="utf-8"`)
		if withLength {
			w.Header().Set("Content-Length", fmt.Sprint(n))
		}
		w.WriteHeader(http.StatusOK)
		chunk := bytes.Repeat([]byte("<x>filler</x>\n"), 4096)
		written := int64(0)
		if m, err := io.WriteString(w, prefix); err == nil {
			written += int64(m)
		}
		for written < n {
			select {
			case <-r.Context().Done():
				return
			case <-g.closing:
				return
			default:
			}
			b := chunk[:min(int64(len(chunk)), n-written)]
			m, err := w.Write(b)
			written += int64(m)
			g.bodyBytes.Add(int64(m))
			if err != nil {
				return
			}
		}
	}
}

// serveDrip sends the headers and then prefix one byte every interval,
// then filler, until the client goes away (at most 200 bytes).
func (g *rawGateway) serveDrip(prefix string, interval time.Duration) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", `text/xml; charset="utf-8"`)
		w.WriteHeader(http.StatusOK)
		f, _ := w.(http.Flusher)
		body := prefix + strings.Repeat(" ", max(0, 200-len(prefix)))
		t := time.NewTicker(interval)
		defer t.Stop()
		for i := range len(body) {
			if _, err := w.Write([]byte{body[i]}); err != nil {
				return
			}
			g.bodyBytes.Add(1)
			if f != nil {
				f.Flush()
			}
			select {
			case <-r.Context().Done():
				return
			case <-g.closing:
				return
			case <-t.C:
			}
		}
	}
}

// serveSilent accepts the request and never answers it.
func (g *rawGateway) serveSilent(w http.ResponseWriter, r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-g.closing:
	}
}

// serveText answers with status and body.
func serveText(status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", `text/xml; charset="utf-8"`)
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

// trapListener is a TCP listener that no client may connect to: it
// stands at an address a hostile LOCATION or control URL points to.
type trapListener struct {
	ln    net.Listener
	wg    sync.WaitGroup
	conns atomic.Int64
}

// newTrap listens on addr:0 until the test ends.
func newTrap(t *testing.T, addr netip.Addr) *trapListener {
	t.Helper()
	needLoopbackAlias(t, addr)
	ln, err := net.Listen("tcp4", netip.AddrPortFrom(addr, 0).String())
	if err != nil {
		t.Fatalf("trap listener on %s: %v", addr, err)
	}
	tr := &trapListener{ln: ln}
	tr.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			tr.conns.Add(1)
			c.Close()
		}
	})
	t.Cleanup(func() {
		ln.Close()
		tr.wg.Wait()
	})
	return tr
}

// Addr is the trap's address.
func (tr *trapListener) Addr() netip.AddrPort {
	return tr.ln.Addr().(*net.TCPAddr).AddrPort()
}

// needLoopbackAlias skips the test when addr (127.0.0.2, 127.0.0.3) cannot
// be bound: Linux and Windows answer on all of 127.0.0.0/8, macOS only on
// 127.0.0.1 unless aliases are configured (ifconfig lo0 alias 127.0.0.2).
func needLoopbackAlias(t *testing.T, addr netip.Addr) {
	t.Helper()
	c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(addr, 0)))
	if err != nil {
		t.Skipf("%s cannot be bound here (no loopback alias): %v", addr, err)
	}
	c.Close()
}
