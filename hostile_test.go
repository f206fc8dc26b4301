package portmap

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/portmap-dev/portmap/natpmp"
	"github.com/portmap-dev/portmap/pcp"
	"github.com/portmap-dev/portmap/upnp"
)

// The hostile-gateway suite: a gateway (or something answering in its
// place) misbehaves, and for each misbehaviour the client must return a
// clear error (matched with errors.Is/As, never by its text) or the correct
// tolerant result, within its context's deadline, leaving no goroutine
// behind. The misbehaving servers are in hostile_server_test.go.

// hostileCase is one misbehaviour. setup starts the servers (and, where the
// misbehaviour is in a later exchange, a client that discovered them while
// they behaved) and returns the call under test and the check of its
// error. The call gets a context with deadline; it must return by then
// plus hostileMargin.
type hostileCase struct {
	name     string
	deadline time.Duration
	setup    func(t *testing.T) (call func(ctx context.Context) error, check func(t *testing.T, err error))
}

// hostileMargin is how long a call may take to return after its
// context's end, measured against a control goroutine that only waits for
// that end: on a loaded machine (here: load 7 on 2 cores, under -race)
// both can be scheduled seconds late, and only the difference is the
// client's. Idle, calls return within a few milliseconds of the deadline.
// The largest overshoot seen is printed with the count.
const hostileMargin = 250 * time.Millisecond

// Deadlines: calls expected to time out get timeoutDeadline, the others
// quickDeadline (which they should not need).
const (
	timeoutDeadline = 300 * time.Millisecond
	quickDeadline   = 2 * time.Second
)

// TestHostileGateway runs every case and counts them.
func TestHostileGateway(t *testing.T) {
	var cases []hostileCase
	cases = append(cases, ssdpCases()...)
	cases = append(cases, descriptionCases()...)
	cases = append(cases, soapCases()...)
	cases = append(cases, natpmpCases()...)
	cases = append(cases, pcpCases()...)
	cases = append(cases, epochCases()...)
	cases = append(cases, externalIPCases()...)
	ran, passed, skipped := 0, 0, 0
	var failed []string
	var overshoot time.Duration // the most a call returned after its context's end
	for _, c := range cases {
		started, skip := false, false // not started: -run left the case out
		ok := t.Run(c.name, func(t *testing.T) {
			started = true
			defer func() { skip = t.Skipped() }()
			runHostile(t, c, &overshoot)
		})
		switch {
		case !started:
		case skip:
			ran++
			skipped++
		case ok:
			ran++
			passed++
		default:
			ran++
			failed = append(failed, c.name)
		}
	}
	fmt.Printf("hostile gateway: %d cases, %d passed, %d skipped (largest overshoot of a deadline: %v)\n",
		ran, passed, skipped, overshoot.Round(time.Millisecond))
	if len(failed) > 0 {
		fmt.Printf("hostile gateway: failed: %s\n", strings.Join(failed, ", "))
	}
}

func runHostile(t *testing.T, c hostileCase, overshoot *time.Duration) {
	// Registered first, so it runs last: after the servers and clients of
	// the case are closed, no goroutine of the case may be left.
	before := goleak.IgnoreCurrent()
	t.Cleanup(func() {
		if err := goleak.Find(before); err != nil {
			t.Errorf("goroutines left behind: %v", err)
		}
	})
	call, check := c.setup(t)
	ctx, cancel := context.WithTimeout(t.Context(), c.deadline)
	defer cancel()
	woke := make(chan time.Time, 1) // when a plain waiter saw ctx end
	go func() {
		<-ctx.Done()
		woke <- time.Now()
	}()
	start := time.Now()
	err := call(ctx)
	end := time.Now()
	cancel()
	if w := <-woke; w.Before(end) {
		over := end.Sub(w)
		*overshoot = max(*overshoot, over)
		if over > hostileMargin {
			t.Errorf("the call returned %v after its context's end (deadline %v)", over, c.deadline)
		}
	}
	t.Logf("returned after %v: %v", end.Sub(start).Round(time.Millisecond), err)
	check(t, err)
}

// isAll checks that err matches every target.
func isAll(t *testing.T, err error, targets ...error) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want one matching %v", targets)
	}
	for _, target := range targets {
		if !errors.Is(err, target) {
			t.Errorf("error %q does not match %q", err, target)
		}
	}
}

// noGateway checks a Discover error: no gateway, with the protocol's own
// reason among the errors it wraps.
func noGateway(t *testing.T, err error, p Protocol, reasons ...error) {
	t.Helper()
	isAll(t, err, append([]error{ErrNoGateway}, reasons...)...)
	var ng *NoGatewayError
	if !errors.As(err, &ng) || ng.Tried[p] == nil || ng.Gateway != loopback {
		t.Errorf("error %#v: want a *NoGatewayError naming %s and the %s attempt", err, loopback, p)
	}
}

// discoverCall returns a call that runs Discover with o and closes any
// client it gets (the cases expect none).
func discoverCall(o Options) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		c, err := Discover(ctx, o)
		if err == nil {
			c.Close()
			return errors.New("Discover succeeded")
		}
		return err
	}
}

// --- SSDP: where LOCATION points, and what a reply may weigh ---

func ssdpCases() []hostileCase {
	tests := []struct {
		name string
		// configure makes the gateway misbehave; the check it returns
		// asserts what must not have happened.
		configure func(t *testing.T, g *rawGateway) (verify func(t *testing.T))
		reasons   []error
	}{
		{
			// Another LAN host (not the replier) must not be fetched: a
			// hostile device would make us probe the LAN for it.
			name: "ssdp/location-other-lan-host",
			configure: func(t *testing.T, g *rawGateway) func(*testing.T) {
				trap := newTrap(t, farLoopback)
				g.SetLocation(fmt.Sprintf("http://%s/rootDesc.xml", trap.Addr()))
				return func(t *testing.T) {
					if n := trap.conns.Load(); n != 0 {
						t.Errorf("the client connected %d times to the LOCATION host, which is not the replier", n)
					}
				}
			},
			reasons: []error{upnp.ErrUnsafeURL},
		},
		{
			// An internet address must never be fetched (it would leak our
			// presence). No listener can stand there; the policy refuses
			// it before dialling, which the error and the time show.
			name: "ssdp/location-public-address",
			configure: func(t *testing.T, g *rawGateway) func(*testing.T) {
				g.SetLocation("http://198.51.100.7/rootDesc.xml")
				return nil
			},
			reasons: []error{upnp.ErrUnsafeURL},
		},
		{
			// A host name would let DNS choose the target (rebinding).
			name: "ssdp/location-host-name",
			configure: func(t *testing.T, g *rawGateway) func(*testing.T) {
				g.SetLocation(fmt.Sprintf("http://localhost:%d/desc.xml", g.port))
				return nil
			},
			reasons: []error{upnp.ErrUnsafeURL},
		},
		{
			name: "ssdp/location-not-http",
			configure: func(t *testing.T, g *rawGateway) func(*testing.T) {
				g.SetLocation("file:///etc/passwd")
				return nil
			},
			reasons: []error{upnp.ErrUnsafeURL},
		},
		{
			// Only the gateway was asked; another host answers in its
			// place, pointing at itself. What it serves must not be
			// fetched: it is not the gateway.
			name: "ssdp/reply-from-another-host",
			configure: func(t *testing.T, g *rawGateway) func(*testing.T) {
				other := otherLoopback
				trap := newTrap(t, other)
				g.SetLocation(fmt.Sprintf("http://%s/rootDesc.xml", trap.Addr()))
				g.SetUDP(func(g *rawGateway, _, good []byte, from netip.AddrPort) {
					if good != nil {
						g.SendFrom(netip.AddrPortFrom(other, g.port), good, from)
					}
				})
				return func(t *testing.T) {
					if n := trap.conns.Load(); n != 0 {
						t.Errorf("the client fetched the description of a host that is not the gateway (%d connections)", n)
					}
				}
			},
		},
		{
			// A reply larger than any real one (2 KiB) is dropped unread.
			name: "ssdp/oversized-reply",
			configure: func(t *testing.T, g *rawGateway) func(*testing.T) {
				g.SetUDP(func(g *rawGateway, _, good []byte, from netip.AddrPort) {
					if good == nil {
						return
					}
					big := strings.Replace(string(good), "EXT:", "X-PAD: "+strings.Repeat("a", 4000)+"\r\nEXT:", 1)
					g.Send([]byte(big), from)
				})
				return nil
			},
		},
	}
	var cases []hostileCase
	for _, tt := range tests {
		cases = append(cases, hostileCase{
			name:     tt.name,
			deadline: timeoutDeadline,
			setup: func(t *testing.T) (func(context.Context) error, func(*testing.T, error)) {
				g := newRawGateway(t)
				verify := tt.configure(t, g)
				return discoverCall(g.options(UPnP)), func(t *testing.T, err error) {
					noGateway(t, err, UPnP, tt.reasons...)
					if g.Received("ssdp") == 0 {
						t.Error("the gateway received no M-SEARCH: the case tested nothing")
					}
					if reqs := g.HTTPRequests(); len(reqs) != 0 {
						t.Errorf("the client fetched %v from the gateway", reqs)
					}
					if verify != nil {
						verify(t)
					}
				}
			},
		})
	}
	return cases
}

// --- Device description: size, time, structure, URLs ---

// nested is an XML document n elements deep.
func nested(n int) string {
	return `<?xml version="1.0"?>` + strings.Repeat("<a>", n) + strings.Repeat("</a>", n)
}

func descriptionCases() []hostileCase {
	const fiftyMB = 50 << 20
	tests := []struct {
		name    string
		serve   func(t *testing.T, g *rawGateway) (http.HandlerFunc, func(*testing.T))
		reasons []error
		as      func(err error) bool
	}{
		{
			name: "description/50MB-with-content-length",
			serve: func(t *testing.T, g *rawGateway) (http.HandlerFunc, func(*testing.T)) {
				return g.serveBig(rawDescription("/ctl"), fiftyMB, true), nil
			},
			reasons: []error{upnp.ErrDescriptionTooLarge},
		},
		{
			name: "description/50MB-chunked",
			serve: func(t *testing.T, g *rawGateway) (http.HandlerFunc, func(*testing.T)) {
				return g.serveBig(rawDescription("/ctl"), fiftyMB, false), nil
			},
			reasons: []error{upnp.ErrDescriptionTooLarge},
		},
		{
			// One byte every 100 ms: only the context ends it.
			name: "description/slow-drip",
			serve: func(t *testing.T, g *rawGateway) (http.HandlerFunc, func(*testing.T)) {
				return g.serveDrip(rawDescription("/ctl"), 100*time.Millisecond), nil
			},
			reasons: []error{context.DeadlineExceeded},
		},
		{
			name: "description/never-answers",
			serve: func(t *testing.T, g *rawGateway) (http.HandlerFunc, func(*testing.T)) {
				return g.serveSilent, nil
			},
			reasons: []error{context.DeadlineExceeded},
		},
		{
			name: "description/malformed-xml",
			serve: func(t *testing.T, g *rawGateway) (http.HandlerFunc, func(*testing.T)) {
				d := rawDescription("/ctl")
				return serveText(http.StatusOK, d[:len(d)/2]+"<<</>"), nil
			},
			reasons: []error{upnp.ErrMalformedDescription},
		},
		{
			// 35000 levels (245 KB) still fit in the size limit: the
			// depth check must refuse them.
			name: "description/nested-35000-levels",
			serve: func(t *testing.T, g *rawGateway) (http.HandlerFunc, func(*testing.T)) {
				return serveText(http.StatusOK, nested(35000)), nil
			},
			reasons: []error{upnp.ErrMalformedDescription},
		},
		{
			name: "description/nested-100000-levels",
			serve: func(t *testing.T, g *rawGateway) (http.HandlerFunc, func(*testing.T)) {
				return serveText(http.StatusOK, nested(100000)), nil
			},
			reasons: []error{upnp.ErrDescriptionTooLarge},
		},
		{
			// 1 MB of headers: the client's header limit (16 KiB) ends it.
			name: "description/oversized-headers",
			serve: func(t *testing.T, g *rawGateway) (http.HandlerFunc, func(*testing.T)) {
				return func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("X-Pad", strings.Repeat("a", 1<<20))
					serveText(http.StatusOK, rawDescription("/ctl"))(w, r)
				}, nil
			},
		},
		{
			name: "description/http-404",
			serve: func(t *testing.T, g *rawGateway) (http.HandlerFunc, func(*testing.T)) {
				return serveText(http.StatusNotFound, "no"), nil
			},
			as: func(err error) bool {
				var se *upnp.StatusError
				return errors.As(err, &se) && se.StatusCode == http.StatusNotFound
			},
		},
		{
			// The description is fetched from the replier, but its
			// control URL points to another host: the service is
			// dropped, nothing is sent there.
			name: "description/control-url-other-host",
			serve: func(t *testing.T, g *rawGateway) (http.HandlerFunc, func(*testing.T)) {
				trap := newTrap(t, farLoopback)
				return serveText(http.StatusOK, rawDescription(fmt.Sprintf("http://%s/ctl", trap.Addr()))), func(t *testing.T) {
					if n := trap.conns.Load(); n != 0 {
						t.Errorf("the client connected %d times to the control URL's host", n)
					}
				}
			},
			reasons: []error{upnp.ErrNoWANConnection, upnp.ErrUnsafeURL},
		},
		{
			// A redirect could send us anywhere: never followed.
			name: "description/redirect-elsewhere",
			serve: func(t *testing.T, g *rawGateway) (http.HandlerFunc, func(*testing.T)) {
				trap := newTrap(t, farLoopback)
				return func(w http.ResponseWriter, r *http.Request) {
						http.Redirect(w, r, fmt.Sprintf("http://%s/rootDesc.xml", trap.Addr()), http.StatusFound)
					}, func(t *testing.T) {
						if n := trap.conns.Load(); n != 0 {
							t.Errorf("the client followed the redirect (%d connections)", n)
						}
					}
			},
			as: func(err error) bool {
				var se *upnp.StatusError
				return errors.As(err, &se) && se.StatusCode == http.StatusFound
			},
		},
	}
	var cases []hostileCase
	for _, tt := range tests {
		cases = append(cases, hostileCase{
			name:     tt.name,
			deadline: timeoutDeadline,
			setup: func(t *testing.T) (func(context.Context) error, func(*testing.T, error)) {
				g := newRawGateway(t)
				h, verify := tt.serve(t, g)
				g.SetHTTP(g.hostileFor("/desc.xml", "", h))
				var allocated uint64
				call := func(ctx context.Context) error {
					var ms runtime.MemStats
					runtime.ReadMemStats(&ms)
					before := ms.TotalAlloc
					err := discoverCall(g.options(UPnP))(ctx)
					runtime.ReadMemStats(&ms)
					allocated = ms.TotalAlloc - before
					return err
				}
				return call, func(t *testing.T, err error) {
					noGateway(t, err, UPnP, tt.reasons...)
					if tt.as != nil && !tt.as(err) {
						t.Errorf("error %q is not of the expected type", err)
					}
					if !slices.Contains(g.HTTPRequests(), "GET /desc.xml") {
						t.Errorf("the description was not fetched (requests %v): the case tested nothing", g.HTTPRequests())
					}
					t.Logf("the gateway wrote %d KB of body, the call allocated %d KB", g.bodyBytes.Load()>>10, allocated>>10)
					if n := g.bodyBytes.Load(); n >= 10<<20 {
						t.Errorf("the gateway could write %d bytes: the read is not bounded", n)
					}
					if allocated > 32<<20 {
						t.Errorf("Discover allocated %d MB", allocated>>20)
					}
					if verify != nil {
						verify(t)
					}
				}
			},
		})
	}
	return cases
}

// --- SOAP: the control URL misbehaves after a good discovery ---

func soapCases() []hostileCase {
	const fiftyMB = 50 << 20
	getIP := func(ctx context.Context, c *Client) error {
		ip, err := c.ExternalIP(ctx)
		if err == nil && ip != rawExternalIP {
			return fmt.Errorf("ExternalIP = %s, want %s", ip, rawExternalIP)
		}
		return err
	}
	add := func(ctx context.Context, c *Client) error {
		_, err := c.Add(ctx, Request{InternalPort: 6000, Lifetime: time.Hour})
		return err
	}
	isHTTP := func(code int) func(error) bool {
		return func(err error) bool {
			var he *upnp.HTTPError
			var se *upnp.SOAPError
			return errors.As(err, &he) && he.StatusCode == code && !errors.As(err, &se)
		}
	}
	faultNoDetail := `<?xml version="1.0"?><s:Envelope xmlns:s="` + soapEnvelopeNS + `"><s:Body><s:Fault>` +
		`<faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring></s:Fault></s:Body></s:Envelope>`
	faultBadCode := `<?xml version="1.0"?><s:Envelope xmlns:s="` + soapEnvelopeNS + `"><s:Body><s:Fault>` +
		`<faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring><detail>` +
		`<UPnPError xmlns="urn:schemas-upnp-org:control-1-0"><errorCode>7l8</errorCode>` +
		`<errorDescription>Conflict</errorDescription></UPnPError></detail></s:Fault></s:Body></s:Envelope>`
	soap12Fault := `<?xml version="1.0"?><env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"><env:Body><env:Fault>` +
		`<env:Code><env:Value>env:Sender</env:Value></env:Code><env:Reason><env:Text xml:lang="en">no</env:Text></env:Reason>` +
		`</env:Fault></env:Body></env:Envelope>`
	ipInner := "<NewExternalIPAddress>" + rawExternalIP.String() + "</NewExternalIPAddress>"
	tests := []struct {
		name     string
		action   string
		serve    func(g *rawGateway) http.HandlerFunc
		call     func(ctx context.Context, c *Client) error
		deadline time.Duration
		reasons  []error
		as       func(error) bool
		wantOK   bool // the tolerant result: the call succeeds
	}{
		{
			name: "soap/50MB-with-content-length", action: "GetExternalIPAddress", call: getIP,
			serve: func(g *rawGateway) http.HandlerFunc {
				return g.serveBig(goodSOAP("GetExternalIPAddress", rawEpochBase), fiftyMB, true)
			},
			reasons: []error{upnp.ErrResponseTooLarge},
		},
		{
			name: "soap/50MB-chunked", action: "GetExternalIPAddress", call: getIP,
			serve: func(g *rawGateway) http.HandlerFunc {
				return g.serveBig(goodSOAP("GetExternalIPAddress", rawEpochBase), fiftyMB, false)
			},
			reasons: []error{upnp.ErrResponseTooLarge},
		},
		{
			name: "soap/slow-drip", action: "GetExternalIPAddress", call: getIP, deadline: timeoutDeadline,
			serve: func(g *rawGateway) http.HandlerFunc {
				return g.serveDrip(goodSOAP("GetExternalIPAddress", rawEpochBase), 100*time.Millisecond)
			},
			reasons: []error{context.DeadlineExceeded},
		},
		{
			name: "soap/never-answers", action: "AddPortMapping", call: add, deadline: timeoutDeadline,
			serve:   func(g *rawGateway) http.HandlerFunc { return g.serveSilent },
			reasons: []error{context.DeadlineExceeded},
		},
		{
			name: "soap/malformed-xml", action: "GetExternalIPAddress", call: getIP,
			serve: func(g *rawGateway) http.HandlerFunc {
				s := goodSOAP("GetExternalIPAddress", rawEpochBase)
				return serveText(http.StatusOK, s[:len(s)-40]+"<</")
			},
			reasons: []error{upnp.ErrMalformedResponse},
		},
		{
			// 9000 levels (63 KB) still fit in the size limit.
			name: "soap/nested-9000-levels", action: "GetExternalIPAddress", call: getIP,
			serve: func(g *rawGateway) http.HandlerFunc {
				return serveText(http.StatusOK, soapResponse(soapEnvelopeNS, wanIPConn1, "GetExternalIPAddress",
					"<NewExternalIPAddress>"+strings.Repeat("<a>", 9000)+strings.Repeat("</a>", 9000)+"</NewExternalIPAddress>"))
			},
			reasons: []error{upnp.ErrMalformedResponse},
		},
		{
			name: "soap/nested-100000-levels", action: "GetExternalIPAddress", call: getIP,
			serve:   func(g *rawGateway) http.HandlerFunc { return serveText(http.StatusOK, nested(100000)) },
			reasons: []error{upnp.ErrResponseTooLarge},
		},
		{
			name: "soap/not-soap-at-all", action: "GetExternalIPAddress", call: getIP,
			serve: func(g *rawGateway) http.HandlerFunc {
				return serveText(http.StatusOK, "<html><body>Login required</body></html>")
			},
			reasons: []error{upnp.ErrMalformedResponse},
		},
		{
			// Documented tolerance (upnp/soap_response.go): only local
			// names matter, as routers get namespaces wrong.
			name: "soap/wrong-envelope-namespace", action: "GetExternalIPAddress", call: getIP, wantOK: true,
			serve: func(g *rawGateway) http.HandlerFunc {
				return serveText(http.StatusOK, soapResponse("http://example.com/not-soap/", wanIPConn1, "GetExternalIPAddress", ipInner))
			},
		},
		{
			name: "soap/wrong-service-namespace", action: "GetExternalIPAddress", call: getIP, wantOK: true,
			serve: func(g *rawGateway) http.HandlerFunc {
				return serveText(http.StatusOK, soapResponse(soapEnvelopeNS, "urn:schemas-upnp-org:service:WANPPPConnection:7", "GetExternalIPAddress", ipInner))
			},
		},
		{
			// Another action's response lacks the argument asked for.
			name: "soap/response-of-another-action", action: "GetExternalIPAddress", call: getIP,
			serve: func(g *rawGateway) http.HandlerFunc {
				return serveText(http.StatusOK, goodSOAP("GetStatusInfo", rawEpochBase))
			},
			reasons: []error{upnp.ErrMalformedResponse},
		},
		{
			name: "soap/fault-500-without-detail", action: "AddPortMapping", call: add,
			serve: func(g *rawGateway) http.HandlerFunc { return serveText(http.StatusInternalServerError, faultNoDetail) },
			as:    isHTTP(http.StatusInternalServerError),
		},
		{
			name: "soap/fault-200-without-detail", action: "AddPortMapping", call: add,
			serve:   func(g *rawGateway) http.HandlerFunc { return serveText(http.StatusOK, faultNoDetail) },
			reasons: []error{upnp.ErrMalformedResponse},
		},
		{
			name: "soap/fault-500-bad-error-code", action: "AddPortMapping", call: add,
			serve: func(g *rawGateway) http.HandlerFunc { return serveText(http.StatusInternalServerError, faultBadCode) },
			as:    isHTTP(http.StatusInternalServerError),
		},
		{
			name: "soap/fault-500-soap-1.2", action: "AddPortMapping", call: add,
			serve: func(g *rawGateway) http.HandlerFunc { return serveText(http.StatusInternalServerError, soap12Fault) },
			as:    isHTTP(http.StatusInternalServerError),
		},
	}
	var cases []hostileCase
	for _, tt := range tests {
		deadline := tt.deadline
		if deadline == 0 {
			deadline = quickDeadline
		}
		cases = append(cases, hostileCase{
			name:     tt.name,
			deadline: deadline,
			setup: func(t *testing.T) (func(context.Context) error, func(*testing.T, error)) {
				g := newRawGateway(t)
				c := discover(t, g.options(UPnP))
				g.SetHTTP(g.hostileFor("/ctl", tt.action, tt.serve(g)))
				var allocated uint64
				call := func(ctx context.Context) error {
					var ms runtime.MemStats
					runtime.ReadMemStats(&ms)
					before := ms.TotalAlloc
					err := tt.call(ctx, c)
					runtime.ReadMemStats(&ms)
					allocated = ms.TotalAlloc - before
					return err
				}
				return call, func(t *testing.T, err error) {
					if tt.wantOK {
						if err != nil {
							t.Errorf("want the tolerant result, got %v", err)
						}
					} else {
						isAll(t, err, tt.reasons...)
						if tt.as != nil && !tt.as(err) {
							t.Errorf("error %q (%T) is not of the expected type", err, err)
						}
					}
					if !slices.Contains(g.HTTPRequests(), "POST /ctl#"+tt.action) {
						t.Errorf("no %s reached the gateway (requests %v): the case tested nothing", tt.action, g.HTTPRequests())
					}
					t.Logf("the gateway wrote %d KB of body, the call allocated %d KB", g.bodyBytes.Load()>>10, allocated>>10)
					if n := g.bodyBytes.Load(); n >= 10<<20 {
						t.Errorf("the gateway could write %d bytes: the read is not bounded", n)
					}
					if allocated > 32<<20 {
						t.Errorf("the call allocated %d MB", allocated>>20)
					}
				}
			},
		})
	}
	return cases
}

// --- NAT-PMP and PCP: who answers, with what, how often, in which order ---

// otherLoopback is an address of this host other than the gateway's
// (loopback answers on all of 127.0.0.0/8); a trap listener stands on
// farLoopback.
var (
	otherLoopback = netip.MustParseAddr("127.0.0.2")
	farLoopback   = netip.MustParseAddr("127.0.0.3")
)

// UDP misbehaviours shared by NAT-PMP and PCP.
var (
	answerFromOtherPort udpFunc = func(g *rawGateway, _, good []byte, from netip.AddrPort) {
		if good != nil {
			g.SendFrom(netip.AddrPortFrom(loopback, 0), good, from)
		}
	}
	answerFromOtherAddr udpFunc = func(g *rawGateway, _, good []byte, from netip.AddrPort) {
		if good != nil {
			// Same port, another address.
			g.SendFrom(netip.AddrPortFrom(otherLoopback, g.port), good, from)
		}
	}
	answerTwice udpFunc = func(g *rawGateway, _, good []byte, from netip.AddrPort) {
		g.Send(good, from)
		g.Send(good, from)
	}
)

// answerMangled sends mangle(good) instead of the good answer, then the
// good one too if andGood.
func answerMangled(mangle func([]byte) []byte, andGood bool) udpFunc {
	return func(g *rawGateway, _, good []byte, from netip.AddrPort) {
		if good == nil {
			return
		}
		g.Send(mangle(append([]byte(nil), good...)), from)
		if andGood {
			g.Send(good, from)
		}
	}
}

// answerStaleFirst sends the answer to the previous request of kind (late,
// reordered) before the good one.
func answerStaleFirst(kind string) udpFunc {
	return func(g *rawGateway, _, good []byte, from netip.AddrPort) {
		if prev := g.Previous(kind); prev != nil {
			g.Send(prev, from)
		}
		g.Send(good, from)
	}
}

// answerThenStale sends the good answer, then (late, reordered) the answer
// to the previous request of kind.
func answerThenStale(kind string) udpFunc {
	return func(g *rawGateway, _, good []byte, from netip.AddrPort) {
		g.Send(good, from)
		if prev := g.Previous(kind); prev != nil {
			g.Send(prev, from)
		}
	}
}

// pcpWrongNonce flips the nonce of a MAP/PEER response.
func pcpWrongNonce(b []byte) []byte {
	if len(b) >= pcp.HeaderLen+12 {
		for i := pcp.HeaderLen; i < pcp.HeaderLen+12; i++ {
			b[i] ^= 0x5a
		}
	}
	return b
}

// udpCase is a NAT-PMP or PCP case: a client discovered while the gateway
// behaved, prep run while it still behaves, then the misbehaviour for call,
// which gets the mapping prep made (if any).
type udpCase struct {
	name   string
	proto  Protocol
	answer udpFunc
	prep   func(ctx context.Context, t *testing.T, c *Client) Mapping // may be nil
	call   func(ctx context.Context, c *Client, m Mapping) error
	// timeout: the call must end by its deadline with the protocol's
	// timeout error; otherwise it must succeed (tolerant result).
	timeout bool
	// alias is a loopback address the case sends from (zero: none).
	alias netip.Addr
}

func (u udpCase) hostile() hostileCase {
	deadline := quickDeadline
	if u.timeout {
		deadline = timeoutDeadline
	}
	kind := string(u.proto)
	return hostileCase{
		name:     u.name,
		deadline: deadline,
		setup: func(t *testing.T) (func(context.Context) error, func(*testing.T, error)) {
			if u.alias.IsValid() {
				needLoopbackAlias(t, u.alias)
			}
			g := newRawGateway(t)
			c := discover(t, g.options(u.proto))
			var m Mapping
			if u.prep != nil {
				m = u.prep(testContext(t), t, c)
			}
			g.SetUDP(u.answer)
			before := g.Received(kind)
			return func(ctx context.Context) error { return u.call(ctx, c, m) }, func(t *testing.T, err error) {
				if g.Received(kind) == before {
					t.Errorf("no %s request reached the gateway: the case tested nothing", kind)
				}
				switch {
				case !u.timeout:
					if err != nil {
						t.Errorf("want the tolerant result, got %v", err)
					}
				case u.proto == NATPMP:
					isAll(t, err, natpmp.ErrTimeout, context.DeadlineExceeded)
				default:
					isAll(t, err, pcp.ErrNoResponse, context.DeadlineExceeded)
				}
			}
		},
	}
}

// externalIPCall asks for the external address and checks it.
func externalIPCall(ctx context.Context, c *Client, _ Mapping) error {
	ip, err := c.ExternalIP(ctx)
	if err == nil && ip != rawExternalIP {
		return fmt.Errorf("ExternalIP = %s, want %s", ip, rawExternalIP)
	}
	return err
}

// addCall adds a mapping of port and checks what was granted.
func addCall(port uint16) func(ctx context.Context, c *Client, _ Mapping) error {
	return func(ctx context.Context, c *Client, _ Mapping) error {
		m, err := c.Add(ctx, Request{InternalPort: port, Lifetime: time.Hour})
		if err != nil {
			return err
		}
		return checkGranted(m, port)
	}
}

// refreshCall renews the mapping prep made and checks what was granted.
func refreshCall(ctx context.Context, c *Client, m Mapping) error {
	r, err := c.Refresh(ctx, m, time.Hour)
	if err != nil {
		return err
	}
	return checkGranted(r, m.Internal.Port())
}

// deleteCall deletes the mapping prep made.
func deleteCall(ctx context.Context, c *Client, m Mapping) error {
	return c.Delete(ctx, m)
}

func checkGranted(m Mapping, port uint16) error {
	if m.Internal.Port() != port || m.External != netip.AddrPortFrom(rawExternalIP, port) || m.Lifetime != time.Hour {
		return fmt.Errorf("granted %+v, want %s:%d -> :%d for 1h", m, rawExternalIP, port, port)
	}
	return nil
}

// prepAdd makes a mapping of port; then, in order, renews it if renew and
// deletes it if del. It returns the mapping as last granted.
func prepAdd(port uint16, renew, del bool) func(ctx context.Context, t *testing.T, c *Client) Mapping {
	return func(ctx context.Context, t *testing.T, c *Client) Mapping {
		m, err := c.Add(ctx, Request{InternalPort: port, Lifetime: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		if renew {
			if m, err = c.Refresh(ctx, m, time.Hour); err != nil {
				t.Fatal(err)
			}
		}
		if del {
			if err := c.Delete(ctx, m); err != nil {
				t.Fatal(err)
			}
		}
		return m
	}
}

// sequenceCall adds 6000 and 6001, renews and deletes 6000, and asks for
// the external address: every result must be right.
func sequenceCall(ctx context.Context, c *Client, _ Mapping) error {
	m0, err := c.Add(ctx, Request{InternalPort: 6000, Lifetime: time.Hour})
	if err != nil {
		return err
	}
	if err := checkGranted(m0, 6000); err != nil {
		return err
	}
	m1, err := c.Add(ctx, Request{InternalPort: 6001, Lifetime: time.Hour})
	if err != nil {
		return err
	}
	if err := checkGranted(m1, 6001); err != nil {
		return err
	}
	r, err := c.Refresh(ctx, m0, time.Hour)
	if err != nil {
		return err
	}
	if err := checkGranted(r, 6000); err != nil {
		return fmt.Errorf("renewal: %w", err)
	}
	if err := c.Delete(ctx, r); err != nil {
		return err
	}
	return externalIPCall(ctx, c, Mapping{})
}

// udpCommonCases are the misbehaviours NAT-PMP and PCP share.
func udpCommonCases(p Protocol) []udpCase {
	kind := string(p)
	return []udpCase{
		{name: "reply-from-wrong-port", answer: answerFromOtherPort, call: addCall(6000), timeout: true},
		{name: "reply-from-wrong-address", answer: answerFromOtherAddr, call: addCall(6000), timeout: true, alias: otherLoopback},
		{name: "duplicated-replies", answer: answerTwice, call: sequenceCall},
		{name: "every-reply-followed-by-the-previous-one", answer: answerThenStale(kind), call: sequenceCall},
		{
			// The late answer to the mapping of 6000 comes before the
			// answer to that of 6001.
			name: "stale-reply-for-other-port-first", answer: answerStaleFirst(kind),
			prep: prepAdd(6000, false, false), call: addCall(6001),
		},
		{
			// The late answer to the deletion of 6000 (lifetime 0) comes
			// before the answer to its renewal: it must not be taken for
			// a grant of external port 0 for 0 s.
			name: "stale-deletion-reply-before-renewal-reply", answer: answerStaleFirst(kind),
			prep: prepAdd(6000, false, true), call: refreshCall,
		},
		{
			// The late answer to the renewal comes before the answer to
			// the deletion.
			name: "stale-renewal-reply-before-deletion-reply", answer: answerStaleFirst(kind),
			prep: prepAdd(6000, true, false), call: deleteCall,
		},
	}
}

func natpmpCases() []hostileCase {
	tests := append(udpCommonCases(NATPMP),
		udpCase{name: "external-address-reply-from-wrong-port", answer: answerFromOtherPort, call: externalIPCall, timeout: true},
		udpCase{name: "truncated-reply", call: externalIPCall, timeout: true,
			answer: answerMangled(func(b []byte) []byte { return b[:len(b)-1] }, false)},
		udpCase{
			// 8 bytes with result 0: a "short" reply may only carry an
			// error; it must not pass for an address of 0.0.0.0.
			name: "truncated-to-8-bytes-success", call: externalIPCall, timeout: true,
			answer: answerMangled(func(b []byte) []byte { return b[:8] }, false),
		},
		udpCase{name: "truncated-then-good-reply", call: externalIPCall,
			answer: answerMangled(func(b []byte) []byte { return b[:len(b)-2] }, true)},
		udpCase{
			// A mapping reply (opcode 129) to an external address request.
			name: "reply-with-other-opcode", call: externalIPCall, timeout: true,
			answer: answerMangled(func([]byte) []byte {
				r := natpmp.Response{Op: natpmp.OpReply | natpmp.OpMapUDP, InternalPort: 1, ExternalPort: 1, Lifetime: 60, Epoch: rawEpochBase}
				out, _ := r.MarshalBinary()
				return out
			}, false),
		},
		udpCase{
			// A mapping reply for another internal port: the request
			// is not answered.
			name: "reply-for-other-internal-port", call: addCall(6000), timeout: true,
			answer: answerMangled(func(b []byte) []byte {
				b[9]++ // internal port, low byte
				return b
			}, false),
		},
	)
	var cases []hostileCase
	for _, u := range tests {
		u.proto = NATPMP
		u.name = "natpmp/" + u.name
		cases = append(cases, u.hostile())
	}
	return append(cases, discoverWrongPortCase(NATPMP))
}

func pcpCases() []hostileCase {
	tests := append(udpCommonCases(PCP),
		udpCase{name: "wrong-nonce", answer: answerMangled(pcpWrongNonce, false), call: addCall(6000), timeout: true},
		udpCase{name: "wrong-nonce-then-good-reply", answer: answerMangled(pcpWrongNonce, true), call: addCall(6000)},
		udpCase{
			// A success without its MAP data: must not pass for a grant.
			name: "truncated-to-header", call: addCall(6000), timeout: true,
			answer: answerMangled(func(b []byte) []byte { return b[:pcp.HeaderLen] }, false),
		},
		udpCase{name: "truncated-odd-length", call: addCall(6000), timeout: true,
			answer: answerMangled(func(b []byte) []byte { return b[:len(b)-3] }, false)},
		udpCase{name: "truncated-then-good-reply", call: addCall(6000),
			answer: answerMangled(func(b []byte) []byte { return b[:len(b)-4] }, true)},
	)
	var cases []hostileCase
	for _, u := range tests {
		u.proto = PCP
		u.name = "pcp/" + u.name
		cases = append(cases, u.hostile())
	}
	return append(cases, discoverWrongPortCase(PCP))
}

// discoverWrongPortCase: Discover itself, when every answer comes from
// the wrong port.
func discoverWrongPortCase(p Protocol) hostileCase {
	return hostileCase{
		name:     string(p) + "/discover-replies-from-wrong-port",
		deadline: timeoutDeadline,
		setup: func(t *testing.T) (func(context.Context) error, func(*testing.T, error)) {
			g := newRawGateway(t)
			g.SetUDP(answerFromOtherPort)
			return discoverCall(g.options(p)), func(t *testing.T, err error) {
				noGateway(t, err, p, context.DeadlineExceeded)
				if g.Received(string(p)) == 0 {
					t.Errorf("no %s request reached the gateway", p)
				}
			}
		},
	}
}

// --- Epochs: back by one second is reordering, back by an hour a reboot ---

// epochCases check the epoch rule of each protocol client, and what the
// keeper makes of it.
func epochCases() []hostileCase {
	shifts := []struct {
		name   string
		shift  int64
		reboot bool
	}{
		{"back-1s", -1, false},
		{"back-1h", -3600, true},
	}
	var cases []hostileCase
	for _, s := range shifts {
		cases = append(cases,
			hostileCase{
				name:     "epoch/natpmp-client/" + s.name,
				deadline: quickDeadline,
				setup: func(t *testing.T) (func(context.Context) error, func(*testing.T, error)) {
					g := newRawGateway(t)
					nc, err := natpmp.NewClient(netip.AddrPortFrom(loopback, g.port), natpmp.WithInitialTimeout(100*time.Millisecond))
					if err != nil {
						t.Fatal(err)
					}
					t.Cleanup(func() { nc.Close() })
					if _, err := nc.ExternalAddress(testContext(t)); err != nil {
						t.Fatal(err)
					}
					return func(ctx context.Context) error {
							g.ShiftEpoch(s.shift)
							_, err := nc.ExternalAddress(ctx)
							return err
						}, func(t *testing.T, err error) {
							if err != nil {
								t.Fatal(err)
							}
							// The epoch check runs before the call returns:
							// its event is queued by now if there is one.
							reboot := false
							select {
							case ev := <-nc.Events():
								reboot = ev.Reboot
							default:
							}
							if reboot != s.reboot {
								t.Errorf("epoch moved by %d s: reboot reported %v, want %v", s.shift, reboot, s.reboot)
							}
						}
				},
			},
			hostileCase{
				name:     "epoch/pcp-client/" + s.name,
				deadline: quickDeadline,
				setup: func(t *testing.T) (func(context.Context) error, func(*testing.T, error)) {
					g := newRawGateway(t)
					events := make(chan pcp.Event, 16)
					pc, err := pcp.NewClient(netip.AddrPortFrom(loopback, g.port), pcp.WithFirstTimeout(100*time.Millisecond),
						pcp.WithEventHandler(func(ev pcp.Event) {
							select {
							case events <- ev:
							default:
							}
						}))
					if err != nil {
						t.Fatal(err)
					}
					t.Cleanup(func() { pc.Close() })
					if _, err := pc.Announce(testContext(t)); err != nil {
						t.Fatal(err)
					}
					var a *pcp.Announcement
					return func(ctx context.Context) error {
							g.ShiftEpoch(s.shift)
							var err error
							a, err = pc.Announce(ctx)
							return err
						}, func(t *testing.T, err error) {
							if err != nil {
								t.Fatal(err)
							}
							if a.Rebooted != s.reboot || pc.Stats().Reboots != map[bool]uint64{false: 0, true: 1}[s.reboot] {
								t.Errorf("epoch moved by %d s: Rebooted %v, %d reboots counted; want %v",
									s.shift, a.Rebooted, pc.Stats().Reboots, s.reboot)
							}
							if s.reboot {
								if ev, ok := waitPCPEvent(events, pcp.EventReboot, time.Second); !ok || !ev.FromServer {
									t.Errorf("no EventReboot from the server delivered (got %v, %+v)", ok, ev)
								}
							}
						}
				},
			},
		)
		// UPnP has no epoch: GetStatusInfo's uptime serves as one.
		for _, p := range []Protocol{NATPMP, PCP, UPnP} {
			cases = append(cases, keeperEpochCase(p, s.name, s.shift, s.reboot))
		}
	}
	return cases
}

// waitPCPEvent waits up to d for an event of kind.
func waitPCPEvent(events <-chan pcp.Event, kind pcp.EventKind, d time.Duration) (pcp.Event, bool) {
	deadline := time.After(d)
	for {
		select {
		case ev := <-events:
			if ev.Kind == kind {
				return ev, true
			}
		case <-deadline:
			return pcp.Event{}, false
		}
	}
}

// keeperEpochCase: a keeper holds a mapping on the raw gateway, checking
// it every 100 ms; the epoch then moves. A reboot must make the mapping
// Lost (and Restored); reordering must not.
func keeperEpochCase(p Protocol, name string, shift int64, reboot bool) hostileCase {
	const watch = 800 * time.Millisecond
	return hostileCase{
		name:     "epoch/keeper-" + string(p) + "/" + name,
		deadline: watch,
		setup: func(t *testing.T) (func(context.Context) error, func(*testing.T, error)) {
			g := newRawGateway(t)
			o := g.options(p)
			c := discover(t, o)
			log := newEventLog()
			k := NewKeeper(c, KeeperOptions{Discovery: o, OnEvent: log.add, CheckInterval: 100 * time.Millisecond, DeleteTimeout: time.Second})
			if _, err := k.Add(testContext(t), Request{InternalPort: 6100, Lifetime: time.Hour}); err != nil {
				t.Fatal(err)
			}
			runKeeper(t, k)
			// Let the keeper see the gateway up for a few checks.
			time.Sleep(350 * time.Millisecond)
			var lost bool
			return func(ctx context.Context) error {
					g.ShiftEpoch(shift)
					for {
						select {
						case e := <-log.ch:
							if e.Kind == Lost {
								lost = true
								return e.Err
							}
						case <-ctx.Done():
							return nil
						}
					}
				}, func(t *testing.T, err error) {
					if lost != reboot {
						t.Fatalf("epoch moved by %d s: mapping lost %v, want %v (err %v)", shift, lost, reboot, err)
					}
					if !reboot {
						return
					}
					if !errors.Is(err, errGatewayRebooted) {
						t.Errorf("Lost for %v, want the reboot", err)
					}
					e := log.wait(t, Restored, 2*time.Second)
					if e.Mapping.Internal.Port() != 6100 {
						t.Errorf("restored %+v", e.Mapping)
					}
				}
		},
	}
}

// --- External address: none, unspecified, private, carrier-grade NAT ---

// noAddressErr reports an error that says the gateway has no external
// address, in its protocol's words.
func noAddressErr(err error) bool {
	var ne *natpmp.ResultError
	var pe *pcp.ResultError
	return errors.Is(err, upnp.ErrNoExternalAddress) ||
		errors.As(err, &ne) && ne.Code == natpmp.ResultNetworkFailure ||
		errors.As(err, &pe) && pe.Code == pcp.NetworkFailure
}

func externalIPCases() []hostileCase {
	values := []struct {
		name string
		ip   netip.Addr
		kind AddressKind
	}{
		{"empty", netip.Addr{}, AddressNone},
		{"0.0.0.0", netip.IPv4Unspecified(), AddressNone},
		{"private", netip.MustParseAddr("192.168.1.7"), AddressPrivate},
		{"cgnat", netip.MustParseAddr("100.64.3.4"), AddressShared},
		// The control: a public address, no warning.
		{"public", netip.MustParseAddr("203.0.113.9"), AddressPublic},
	}
	var cases []hostileCase
	for _, p := range Protocols {
		for _, v := range values {
			cases = append(cases, hostileCase{
				name:     "external-ip/" + string(p) + "/" + v.name,
				deadline: quickDeadline,
				setup: func(t *testing.T) (func(context.Context) error, func(*testing.T, error)) {
					gw, o := fakeGateway(t)
					gw.SetExternalIP(v.ip)
					o.Protocols = []Protocol{p}
					var got netip.Addr
					return func(ctx context.Context) error {
							c, err := Discover(ctx, o)
							if err != nil {
								return err
							}
							defer c.Close()
							got, err = c.ExternalIP(ctx)
							return err
						}, func(t *testing.T, err error) {
							switch {
							case v.kind == AddressNone && err != nil:
								if !noAddressErr(err) {
									t.Errorf("error %q does not say the gateway has no external address", err)
								}
							case err != nil:
								t.Fatal(err)
							case ClassifyAddress(got) != v.kind || (v.kind != AddressNone && got != v.ip):
								t.Errorf("ExternalIP = %s (%s), want %s (%s)", got, ClassifyAddress(got), v.ip, v.kind)
							}
							gws, err := DiscoverAll(testContext(t), o)
							switch {
							case err != nil && v.kind == AddressNone:
								if !noAddressErr(err) {
									t.Errorf("DiscoverAll: error %q does not say the gateway has no external address", err)
								}
							case err != nil:
								t.Fatalf("DiscoverAll: %v", err)
							case v.kind == AddressPublic && len(gws[0].Warnings()) != 0:
								t.Errorf("DiscoverAll: external address %s, warnings %q; want none", gws[0].ExternalIP, gws[0].Warnings())
							case v.kind != AddressPublic && !slices.Contains(gws[0].Warnings(), v.kind.Warning()):
								t.Errorf("DiscoverAll: external address %s, warnings %q; want %q", gws[0].ExternalIP, gws[0].Warnings(), v.kind.Warning())
							}
						}
				},
			})
		}
	}
	return cases
}
