package upnp

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestSOAPRequestHeaders(t *testing.T) {
	f := newFakeDevice(t, func(r fakeRequest) fakeReply {
		return okReply(r.Action, r.ServiceNS, "NewExternalIPAddress", "203.0.113.5")
	})
	c := NewWANConnection(f.service(urnIP1), nil)
	if _, err := c.GetExternalIPAddress(context.Background()); err != nil {
		t.Fatal(err)
	}
	reqs := f.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests", len(reqs))
	}
	r := reqs[0]
	if r.SOAPAction != `"urn:schemas-upnp-org:service:WANIPConnection:1#GetExternalIPAddress"` {
		t.Errorf("SOAPAction = %s", r.SOAPAction)
	}
	if r.ContentType != `text/xml; charset="utf-8"` {
		t.Errorf("Content-Type = %s", r.ContentType)
	}
	if r.ServiceNS != urnIP1 || r.Action != "GetExternalIPAddress" {
		t.Errorf("ns %q action %q", r.ServiceNS, r.Action)
	}
}

// rawServer answers every connection with the given raw HTTP response and
// closes it. It stops when the test ends.
func rawServer(t *testing.T, response string) *url.URL {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.SetDeadline(time.Now().Add(5 * time.Second))
			br := bufio.NewReader(c)
			req, err := http.ReadRequest(br)
			if err == nil {
				io.Copy(io.Discard, req.Body)
				io.WriteString(c, response)
			}
			c.Close()
		}
	}()
	u, _ := url.Parse("http://" + ln.Addr().String() + "/ctl")
	return u
}

func TestSOAPFraming(t *testing.T) {
	body := fixtureString("miniupnpd-soap-2.3.1-GetExternalIPAddress.xml")
	tests := []struct {
		name string
		resp string
	}{
		{"miniupnpd Connection: close with length", "HTTP/1.1 200 OK\r\nContent-Type: text/xml; charset=\"utf-8\"\r\nConnection: close\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\nServer: Debian/6.18 UPnP/1.1 MiniUPnPd/2.3.1\r\nExt:\r\n\r\n" + body},
		{"Connection: close without length", "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nConnection: close\r\n\r\n" + body},
		{"HTTP/1.0 without length", "HTTP/1.0 200 OK\r\nContent-Type: text/xml\r\n\r\n" + body},
		{"chunked", "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk(body[:100]) + chunk(body[100:]) + "0\r\n\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := rawServer(t, tt.resp)
			c := NewWANConnection(Service{Type: urnIP2, ControlURL: u}, nil)
			ip, err := c.GetExternalIPAddress(context.Background())
			if err != nil || ip != mustAddr("11.77.0.1") {
				t.Fatalf("ip %v err %v", ip, err)
			}
		})
	}
}

func chunk(s string) string { return strconv.FormatInt(int64(len(s)), 16) + "\r\n" + s + "\r\n" }

func TestSOAPErrors(t *testing.T) {
	big := strings.Repeat("x", maxSOAPReply+10)
	tests := []struct {
		name    string
		handler http.HandlerFunc
		check   func(error) bool
	}{
		{"fault on 500", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(500)
			io.WriteString(w, fixtureString("miniupnpd-soap-2.3.1-InvalidAction.xml"))
		}, func(err error) bool { return errors.Is(err, ErrInvalidAction) }},
		{"fault on 200 (Huawei)", func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, fixtureString("miniupnpd-soap-2.3.1-AddPortMapping-718.xml"))
		}, func(err error) bool { return errors.Is(err, ErrConflictInMappingEntry) }},
		{"500 without fault", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "<html>oops</html>", 500)
		}, func(err error) bool {
			var he *HTTPError
			return errors.As(err, &he) && he.StatusCode == 500 && strings.Contains(err.Error(), "HTTP 500")
		}},
		{"404", func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) }, func(err error) bool {
			var he *HTTPError
			return errors.As(err, &he) && he.StatusCode == 404
		}},
		{"redirect not followed", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://192.0.2.1/elsewhere", http.StatusTemporaryRedirect)
		}, func(err error) bool {
			var he *HTTPError
			return errors.As(err, &he) && he.StatusCode == 307
		}},
		{"too large", func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, big)
		}, func(err error) bool { return errors.Is(err, ErrResponseTooLarge) }},
		{"garbage 200", func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "hello")
		}, func(err error) bool { return errors.Is(err, ErrMalformedResponse) }},
		{"missing argument", func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, fixtureString("miniupnpd-soap-2.3.1-AddPortMapping.xml"))
		}, func(err error) bool { return errors.Is(err, ErrMalformedResponse) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.handler)
			defer srv.Close()
			u, _ := url.Parse(srv.URL)
			c := NewWANConnection(Service{Type: urnIP2, ControlURL: u}, nil)
			_, err := c.GetExternalIPAddress(context.Background())
			if err == nil || !tt.check(err) {
				t.Fatalf("err = %v", err)
			}
		})
	}
}

func TestSOAPContextDeadline(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	u, _ := url.Parse(srv.URL)
	c := NewWANConnection(Service{Type: urnIP2, ControlURL: u}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.GetStatusInfo(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("took %v", d)
	}
}

func TestSOAPNoControlURL(t *testing.T) {
	c := NewWANConnection(Service{Type: urnIP2}, nil)
	if _, err := c.GetStatusInfo(context.Background()); err == nil {
		t.Fatal("no error")
	}
}

func TestNewHTTPClientLocalAddr(t *testing.T) {
	for _, local := range []string{"127.0.0.1", "::1"} {
		t.Run(local, func(t *testing.T) {
			la := mustAddr(local)
			ln, err := net.Listen("tcp", netip.AddrPortFrom(la, 0).String())
			if err != nil {
				t.Skipf("no %s: %v", local, err)
			}
			var got string
			srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got = r.RemoteAddr
				io.WriteString(w, okReply("GetExternalIPAddress", urnIP2, "NewExternalIPAddress", "203.0.113.1").Body)
			})}}
			srv.Start()
			defer srv.Close()
			u, _ := url.Parse(srv.URL)
			hc := NewHTTPClient(la)
			defer hc.CloseIdleConnections()
			c := NewWANConnection(Service{Type: urnIP2, ControlURL: u}, hc)
			if _, err := c.GetExternalIPAddress(context.Background()); err != nil {
				t.Fatal(err)
			}
			ap, err := netip.ParseAddrPort(got)
			if err != nil || ap.Addr() != la {
				t.Fatalf("request came from %q, want %s", got, la)
			}
		})
	}
}
