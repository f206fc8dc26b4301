package upnp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Test helpers for discovery. Everything here talks to loopback only:
// SSDP responders on 127.0.0.1:<random>, HTTP servers from httptest, and
// an HTTP client that refuses to dial anything else.

// discFixture reads testdata/name.
func discFixture(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// discGuardClient is an HTTP client that fails the test if asked to dial
// anything but loopback, and keeps no idle connections (so no transport
// goroutines outlive a test).
func discGuardClient(t testing.TB) *http.Client {
	var d net.Dialer
	return &http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{
			Proxy:             nil,
			DisableKeepAlives: true,
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				ap, err := netip.ParseAddrPort(addr)
				if err != nil || !ap.Addr().IsLoopback() {
					t.Errorf("test HTTP client asked to dial %s %s", network, addr)
					return nil, fmt.Errorf("dial %s refused by test guard", addr)
				}
				return d.DialContext(ctx, network, addr)
			},
		},
	}
}

// discNoDialClient fails every request without touching the network.
var discNoDialClient = &http.Client{Transport: &http.Transport{
	Proxy: nil,
	DialContext: func(context.Context, string, string) (net.Conn, error) {
		return nil, errors.New("dialing disabled in this test")
	},
}}

// discWAN is the state a fake WAN connection service reports.
type discWAN struct {
	Status string // ConnectionStatus, e.g. "Connected"
	IP     string // ExternalIPAddress
}

// discIGD is a fake IGD HTTP server: it serves a description (with
// {{BASE}} replaced by its own URL) at /rootDesc.xml and answers
// GetStatusInfo and GetExternalIPAddress on the control paths in wan.
type discIGD struct {
	srv  *httptest.Server
	desc string
	wan  map[string]discWAN

	mu    sync.Mutex
	hits  map[string]int
	posts int
	delay time.Duration
}

func newDiscIGD(t testing.TB, desc string, wan map[string]discWAN) *discIGD {
	t.Helper()
	g := &discIGD{desc: desc, wan: wan, hits: make(map[string]int)}
	g.srv = httptest.NewServer(http.HandlerFunc(g.serve))
	t.Cleanup(g.srv.Close)
	return g
}

// newDiscIGDOn is newDiscIGD serving on ln.
func newDiscIGDOn(t testing.TB, ln net.Listener, desc string, wan map[string]discWAN) *discIGD {
	t.Helper()
	g := &discIGD{desc: desc, wan: wan, hits: make(map[string]int)}
	g.srv = httptest.NewUnstartedServer(http.HandlerFunc(g.serve))
	g.srv.Listener.Close()
	g.srv.Listener = ln
	g.srv.Start()
	t.Cleanup(g.srv.Close)
	return g
}

// soapCalls returns how many POST requests the fake received.
func (g *discIGD) soapCalls() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.posts
}

// URL returns the description URL.
func (g *discIGD) URL() string { return g.srv.URL + "/rootDesc.xml" }

func (g *discIGD) count(path string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.hits[path]
}

func (g *discIGD) serve(w http.ResponseWriter, r *http.Request) {
	// Read the body first: only then does net/http notice a client that
	// hangs up (and cancel r.Context()), which the delay below relies on.
	io.Copy(io.Discard, io.LimitReader(r.Body, 64<<10))
	g.mu.Lock()
	g.hits[r.URL.Path]++
	if r.Method == http.MethodPost {
		g.posts++
	}
	delay := g.delay
	g.mu.Unlock()
	if delay > 0 {
		// Hang, but give up when the client does, so that closing the
		// server does not wait for the full delay.
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	if r.Method == http.MethodGet && r.URL.Path == "/rootDesc.xml" {
		w.Header().Set("Content-Type", `text/xml; charset="utf-8"`)
		io.WriteString(w, strings.ReplaceAll(g.desc, "{{BASE}}", g.srv.URL))
		return
	}
	st, ok := g.wan[r.URL.Path]
	if r.Method != http.MethodPost || !ok {
		http.NotFound(w, r)
		return
	}
	svc, action, _ := strings.Cut(strings.Trim(r.Header.Get("SOAPAction"), `"`), "#")
	var args string
	switch action {
	case "GetStatusInfo":
		args = "<NewConnectionStatus>" + st.Status + "</NewConnectionStatus><NewLastConnectionError>ERROR_NONE</NewLastConnectionError><NewUptime>42</NewUptime>"
	case "GetExternalIPAddress":
		args = "<NewExternalIPAddress>" + st.IP + "</NewExternalIPAddress>"
	default:
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, `<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring><detail><UPnPError xmlns="urn:schemas-upnp-org:control-1-0"><errorCode>401</errorCode><errorDescription>Invalid Action</errorDescription></UPnPError></detail></s:Fault></s:Body></s:Envelope>`)
		return
	}
	w.Header().Set("Content-Type", `text/xml; charset="utf-8"`)
	fmt.Fprintf(w, `<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body><u:%sResponse xmlns:u="%s">%s</u:%sResponse></s:Body></s:Envelope>`, action, svc, args, action)
}

// discResponder is a fake SSDP responder on 127.0.0.1.
type discResponder struct {
	t    testing.TB
	conn *net.UDPConn
	// from, if set, sends the replies (to test replies from a port other
	// than the one searched).
	from *net.UDPConn

	mu       sync.Mutex
	location string
	answers  func(st string) bool
	bootID   int
	// raw, if set, is sent instead of a built reply.
	raw []byte

	searches atomic.Int32
	sts      sync.Map
	wg       sync.WaitGroup
}

func newDiscResponder(t testing.TB, location string) *discResponder {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	r := &discResponder{t: t, conn: c, location: location, answers: func(string) bool { return true }, bootID: 1795305623}
	t.Cleanup(func() {
		c.Close()
		if r.from != nil {
			r.from.Close()
		}
		r.wg.Wait()
	})
	return r
}

// setLocation changes the LOCATION of later replies.
func (r *discResponder) setLocation(loc string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.location = loc
}

// start begins answering; set the fields first.
func (r *discResponder) start() *discResponder {
	r.wg.Go(r.run)
	return r
}

// AddrPort returns where the responder listens.
func (r *discResponder) AddrPort() netip.AddrPort {
	return r.conn.LocalAddr().(*net.UDPAddr).AddrPort()
}

func (r *discResponder) run() {
	buf := make([]byte, 4096)
	for {
		n, from, err := r.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		msg := string(buf[:n])
		if !strings.HasPrefix(msg, "M-SEARCH * HTTP/1.1\r\n") {
			r.t.Errorf("responder got %q", msg)
			continue
		}
		r.searches.Add(1)
		st := ""
		for l := range strings.SplitSeq(msg, "\r\n") {
			if v, ok := strings.CutPrefix(l, "ST: "); ok {
				st = v
			}
		}
		r.sts.Store(st, true)
		if !r.answers(st) {
			continue
		}
		r.mu.Lock()
		loc := r.location
		r.mu.Unlock()
		reply := r.raw
		if reply == nil {
			reply = fmt.Appendf(nil, "HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=120\r\nST: %s\r\nUSN: uuid:3b4c1d3a-7f1e-4e8e-9a1a-0123456789ab::%s\r\nEXT:\r\nSERVER: Debian/6.18.44 UPnP/1.1 MiniUPnPd/2.3.1\r\nLOCATION: %s\r\nBOOTID.UPNP.ORG: %d\r\nCONFIGID.UPNP.ORG: 1337\r\n\r\n", st, st, loc, r.bootID)
		}
		out := r.conn
		if r.from != nil {
			out = r.from
		}
		out.WriteToUDPAddrPort(reply, from)
	}
}

// discBlackhole is a loopback UDP socket that reads and ignores
// everything: the multicast destination of tests that want no multicast
// answer but must not send real multicast.
func discBlackhole(t testing.TB) netip.AddrPort {
	r := newDiscResponder(t, "")
	r.answers = func(string) bool { return false }
	r.start()
	return r.AddrPort()
}

// discOptions returns DiscoverOptions aimed at loopback responders:
// unicast to gw (may be nil) and "multicast" to mc (may be nil: a
// blackhole). Real multicast is never used.
func discOptions(t testing.TB, gw, mc *discResponder) DiscoverOptions {
	o := DiscoverOptions{
		HTTPClient: discGuardClient(t),
		Timeout:    3 * time.Second,
	}
	if gw != nil {
		o.Gateway = gw.AddrPort().Addr()
		o.SSDPPort = gw.AddrPort().Port()
	}
	if mc != nil {
		o.Multicast = mc.AddrPort()
	} else {
		o.Multicast = discBlackhole(t)
	}
	return o
}

// discNoLeak fails the test if goroutines of this package's discovery,
// GENA or NOTIFY code are still running shortly after the test.
func discNoLeak(t testing.TB) {
	t.Helper()
	t.Cleanup(func() {
		markers := []string{
			"upnp.ssdpSearch", "upnp.readSearchReplies", "upnp.(*discoverConfig)",
			"upnp.(*Subscription)", "upnp.(*NotifyListener)", "upnp.Subscribe",
		}
		var stacks string
		for range 100 {
			buf := make([]byte, 1<<20)
			stacks = string(buf[:runtime.Stack(buf, true)])
			leaked := false
			for _, m := range markers {
				if strings.Contains(stacks, m) {
					leaked = true
				}
			}
			if !leaked {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Errorf("goroutines leaked:\n%s", stacks)
	})
}
