package upnp

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"weak"
)

// roundTripperFunc is an http.RoundTripper that is not an *http.Transport.
type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// A control URL that redirects must not get the SOAP request re-sent
// elsewhere, whatever client the caller passed: the redirect comes back
// as an error naming the action, and the target receives nothing.
func TestSOAPRedirectNotFollowed(t *testing.T) {
	var elsewhere atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhere.Add(1)
		io.WriteString(w, "stolen")
	}))
	defer other.Close()
	target := other.URL + "/ctl"
	var code atomic.Int32
	ctl := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		http.Redirect(w, r, target, int(code.Load()))
	}))
	defer ctl.Close()
	u, _ := url.Parse(ctl.URL + "/ctl/IPConn")

	clients := map[string]func() *http.Client{
		"default": func() *http.Client { return nil },
		"caller's zero client": func() *http.Client {
			return &http.Client{}
		},
		"caller's client that follows redirects": func() *http.Client {
			return &http.Client{
				Transport:     &http.Transport{DisableKeepAlives: true},
				CheckRedirect: func(*http.Request, []*http.Request) error { return nil },
			}
		},
		"caller's RoundTripper": func() *http.Client {
			tr := &http.Transport{DisableKeepAlives: true}
			return &http.Client{Transport: roundTripperFunc(tr.RoundTrip)}
		},
	}
	calls := map[string]func(hc *http.Client) error{
		"GetExternalIPAddress": func(hc *http.Client) error {
			_, err := NewWANConnection(Service{Type: urnIP1, ControlURL: u}, hc).GetExternalIPAddress(context.Background())
			return err
		},
		"GetFirewallStatus": func(hc *http.Client) error {
			_, err := NewFirewallControl(Service{Type: "urn:schemas-upnp-org:service:WANIPv6FirewallControl:1", ControlURL: u}, hc).GetFirewallStatus(context.Background())
			return err
		},
		"GetCommonLinkProperties": func(hc *http.Client) error {
			_, err := NewCommonInterfaceConfig(Service{Type: "urn:schemas-upnp-org:service:WANCommonInterfaceConfig:1", ControlURL: u}, hc).GetCommonLinkProperties(context.Background())
			return err
		},
	}
	for cname, mk := range clients {
		for action, call := range calls {
			for _, status := range []int{http.StatusTemporaryRedirect, http.StatusPermanentRedirect, http.StatusFound} {
				t.Run(cname+"/"+action+"/"+http.StatusText(status), func(t *testing.T) {
					code.Store(int32(status))
					before := elsewhere.Load()
					err := call(mk())
					if n := elsewhere.Load() - before; n != 0 {
						t.Fatalf("redirect followed: the other server got %d requests (err %v)", n, err)
					}
					var he *HTTPError
					if !errors.As(err, &he) || he.StatusCode != status || he.Action != action || he.Location != target {
						t.Fatalf("err = %v, want an *HTTPError %d for %s to %s", err, status, action, target)
					}
					if !errors.Is(err, ErrUnsafeURL) {
						t.Errorf("err = %v, does not match ErrUnsafeURL", err)
					}
					if msg := err.Error(); !strings.Contains(msg, action) || !strings.Contains(msg, "redirect") {
						t.Errorf("message %q does not name the action and the redirect", msg)
					}
				})
			}
		}
	}
}

// A caller's client reads at most maxResponseHeaderBytes of response
// header from a device, for SOAP and description fetches alike.
func TestGatewayClientBoundsResponseHeader(t *testing.T) {
	var pad atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("X-Pad", strings.Repeat("a", int(pad.Load())))
		if r.Method == http.MethodGet {
			io.WriteString(w, "<root/>")
			return
		}
		io.WriteString(w, okReply("GetExternalIPAddress", urnIP1, "NewExternalIPAddress", "203.0.113.5").Body)
	}))
	defer srv.Close()
	u, _ := url.Parse(srv.URL + "/ctl")
	// net/http's own default bound is 1 MiB; this one is far below it.
	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	tests := []struct {
		pad    int
		wantOK bool
	}{
		{100, true},
		{4 * maxResponseHeaderBytes, false},
	}
	for _, tt := range tests {
		pad.Store(int32(tt.pad))
		_, err := NewWANConnection(Service{Type: urnIP1, ControlURL: u}, hc).GetExternalIPAddress(context.Background())
		if (err == nil) != tt.wantOK {
			t.Errorf("SOAP, %d-byte header: err = %v, want ok %v", tt.pad, err, tt.wantOK)
		}
		_, err = fetchDescription(context.Background(), hc, u)
		if (err == nil) != tt.wantOK {
			t.Errorf("description, %d-byte header: err = %v, want ok %v", tt.pad, err, tt.wantOK)
		}
	}
}

func TestGatewayClientKeepsCallerSettings(t *testing.T) {
	var dials atomic.Int32
	var d net.Dialer
	tr := &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			dials.Add(1)
			return d.DialContext(ctx, network, addr)
		},
	}
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Transport: tr, Timeout: 7 * time.Second, Jar: jar}

	c := gatewayClient(hc)
	if c.Timeout != hc.Timeout || c.Jar != hc.Jar {
		t.Errorf("Timeout %v Jar %v, want the caller's", c.Timeout, c.Jar)
	}
	if hc.CheckRedirect != nil || tr.MaxResponseHeaderBytes != 0 || hc.Transport != tr {
		t.Error("the caller's client or transport was modified")
	}
	ctr, ok := c.Transport.(*http.Transport)
	if !ok || ctr.MaxResponseHeaderBytes != maxResponseHeaderBytes || !ctr.DisableKeepAlives {
		t.Fatalf("transport %T (bounded: %v), want a bounded clone of the caller's", c.Transport, ok && ctr.MaxResponseHeaderBytes == maxResponseHeaderBytes)
	}
	// One clone per caller transport: every client shares its pool.
	if gatewayClient(hc).Transport != c.Transport || gatewayClient(&http.Client{Transport: tr}).Transport != c.Transport {
		t.Error("a second wrap of the same transport cloned it again")
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	resp, err := c.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if dials.Load() != 1 {
		t.Errorf("the caller's dialer was used %d times, want 1", dials.Load())
	}

	// Transports that already bound headers (NewHTTPClient's) and
	// RoundTrippers of other types are used as they are.
	own := NewHTTPClient(mustAddr("127.0.0.1"))
	if gatewayClient(own).Transport != own.Transport {
		t.Error("NewHTTPClient's transport was cloned")
	}
	rt := roundTripperFunc(tr.RoundTrip)
	if _, ok := gatewayClient(&http.Client{Transport: rt}).Transport.(roundTripperFunc); !ok {
		t.Error("a caller's RoundTripper was replaced")
	}
}

// The clone of a caller's transport is forgotten once the caller drops it.
func TestGatewayClientForgetsCollectedTransport(t *testing.T) {
	key := func() weak.Pointer[http.Transport] {
		tr := &http.Transport{}
		gatewayClient(&http.Client{Transport: tr})
		return weak.Make(tr)
	}()
	for range 100 {
		runtime.GC()
		bounded.Lock()
		_, ok := bounded.m[key]
		bounded.Unlock()
		if !ok {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Error("clone still held after its transport was collected")
}
