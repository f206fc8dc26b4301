package upnp

import (
	"context"
	"errors"
	"fmt"
	"io"
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

// genaPub is a fake GENA publisher (the device side) on loopback.
type genaPub struct {
	t   testing.TB
	srv *httptest.Server

	mu       sync.Mutex
	subs     map[string]string // SID -> callback URL
	n        int
	log      []string // "METHOD SID" per request
	headers  []http.Header
	grant    string // TIMEOUT reply header
	status   int    // if non-zero, every request gets this status
	noSID    bool   // reply to SUBSCRIBE without SID
	early    bool   // send the initial event before the SUBSCRIBE reply
	initial  bool   // send an initial event at all
	initBody string
}

func newGenaPub(t testing.TB) *genaPub {
	p := &genaPub{t: t, subs: make(map[string]string), grant: "Second-60", initial: true,
		initBody: discFixture(t, "gena-miniupnpd-2.3.1-notify.xml")}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *genaPub) service() Service {
	u, _ := url.Parse(p.srv.URL + "/evt/IPConn")
	c, _ := url.Parse(p.srv.URL + "/ctl/IPConn")
	return Service{Type: "urn:schemas-upnp-org:service:WANIPConnection:2", ControlURL: c, EventSubURL: u}
}

func (p *genaPub) requests() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.log...)
}

func (p *genaPub) header(i int) http.Header {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.headers[i]
}

func (p *genaPub) serve(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	sid := r.Header.Get("SID")
	p.log = append(p.log, r.Method+" "+sid)
	p.headers = append(p.headers, r.Header.Clone())
	status := p.status
	p.mu.Unlock()
	if status != 0 {
		w.WriteHeader(status)
		return
	}
	switch {
	case r.Method == "SUBSCRIBE" && sid == "":
		cb := strings.Trim(r.Header.Get("CALLBACK"), "<>")
		p.mu.Lock()
		p.n++
		sid = fmt.Sprintf("uuid:sub-%d", p.n)
		p.subs[sid] = cb
		early, initial, noSID := p.early, p.initial, p.noSID
		p.mu.Unlock()
		if initial && early {
			p.notify(sid, 0, p.initBody)
		}
		w.Header().Set("TIMEOUT", p.grant)
		if !noSID {
			w.Header().Set("SID", sid)
		}
		w.WriteHeader(http.StatusOK)
		if initial && !early {
			// miniupnpd sends the initial event right after replying.
			go p.notify(sid, 0, p.initBody)
		}
	case r.Method == "SUBSCRIBE":
		p.mu.Lock()
		_, ok := p.subs[sid]
		p.mu.Unlock()
		if !ok {
			w.WriteHeader(http.StatusPreconditionFailed)
			return
		}
		w.Header().Set("SID", sid)
		w.Header().Set("TIMEOUT", p.grant)
	case r.Method == "UNSUBSCRIBE":
		p.mu.Lock()
		_, ok := p.subs[sid]
		delete(p.subs, sid)
		p.mu.Unlock()
		if !ok {
			w.WriteHeader(http.StatusPreconditionFailed)
		}
	default:
		w.WriteHeader(http.StatusMethodNotAllowed)
	}
}

// forget drops every subscription, as a rebooted device does.
func (p *genaPub) forget() {
	p.mu.Lock()
	defer p.mu.Unlock()
	clear(p.subs)
}

// notify sends a NOTIFY for sid and returns the status code (0 on error).
func (p *genaPub) notify(sid string, seq uint32, body string) int {
	p.mu.Lock()
	cb := p.subs[sid]
	p.mu.Unlock()
	return genaSend(p.t, cb, map[string]string{"NT": "upnp:event", "NTS": "upnp:propchange", "SID": sid, "SEQ": strconv.Itoa(int(seq))}, body)
}

func genaSend(t testing.TB, callback string, hdr map[string]string, body string) int {
	req, err := http.NewRequest("NOTIFY", callback, strings.NewReader(body))
	if err != nil {
		t.Errorf("NOTIFY to %q: %v", callback, err)
		return 0
	}
	for k, v := range hdr {
		req.Header[k] = []string{v}
	}
	req.Header.Set("Content-Type", `text/xml; charset="utf-8"`)
	resp, err := discGuardClient(t).Do(req)
	if err != nil {
		return 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func genaRecv(t testing.TB, s *Subscription) Event {
	t.Helper()
	select {
	case ev, ok := <-s.Events():
		if !ok {
			t.Fatalf("events closed: %v", s.Err())
		}
		return ev
	case <-time.After(3 * time.Second):
		t.Fatal("no event")
	}
	return Event{}
}

// genaClock is an injectable renewal clock: the test fires each wait.
type genaClock struct {
	waits chan time.Duration
	fire  chan time.Time
}

func newGenaClock() *genaClock {
	return &genaClock{waits: make(chan time.Duration, 16), fire: make(chan time.Time)}
}

func (c *genaClock) after(d time.Duration) <-chan time.Time {
	c.waits <- d
	return c.fire
}

// tick waits for the loop to arm a timer, fires it and returns the wait.
func (c *genaClock) tick(t testing.TB) time.Duration {
	t.Helper()
	select {
	case d := <-c.waits:
		c.fire <- time.Now()
		return d
	case <-time.After(3 * time.Second):
		t.Fatal("renewal loop armed no timer")
	}
	return 0
}

func TestSubscribe(t *testing.T) {
	for _, early := range []bool{false, true} {
		t.Run(fmt.Sprintf("initial event before reply %v", early), func(t *testing.T) {
			discNoLeak(t)
			pub := newGenaPub(t)
			pub.early = early
			s, err := Subscribe(context.Background(), pub.service(), SubscribeOptions{Timeout: 90 * time.Second, HTTPClient: discGuardClient(t)})
			if err != nil {
				t.Fatal(err)
			}
			if s.SID() != "uuid:sub-1" || s.Timeout() != 60*time.Second {
				t.Errorf("SID %q timeout %v", s.SID(), s.Timeout())
			}
			h := pub.header(0)
			cb := s.Callback().String()
			if h.Get("CALLBACK") != "<"+cb+">" || h.Get("NT") != "upnp:event" || h.Get("TIMEOUT") != "Second-90" {
				t.Errorf("SUBSCRIBE headers %v", h)
			}
			if !strings.HasPrefix(cb, "http://127.0.0.1:") || !strings.Contains(cb, "/portmap/gena/") {
				t.Errorf("callback %s", cb)
			}
			ev := genaRecv(t, s)
			if ev.Seq != 0 || ev.SID != "uuid:sub-1" {
				t.Errorf("initial event %+v", ev)
			}
			if v, _ := ev.Value("ExternalIPAddress"); v != "11.77.0.1" {
				t.Errorf("ExternalIPAddress = %q", v)
			}
			if code := pub.notify("uuid:sub-1", 1, `<propertyset><property><ExternalIPAddress>11.77.0.9</ExternalIPAddress></property></propertyset>`); code != http.StatusOK {
				t.Errorf("NOTIFY answered %d", code)
			}
			ev = genaRecv(t, s)
			if v, _ := ev.Value("ExternalIPAddress"); ev.Seq != 1 || v != "11.77.0.9" {
				t.Errorf("event %+v", ev)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if _, ok := <-s.Events(); ok {
				t.Error("events still open after Close")
			}
			if got := pub.requests(); got[len(got)-1] != "UNSUBSCRIBE uuid:sub-1" {
				t.Errorf("requests %v", got)
			}
			if err := s.Close(); err != nil {
				t.Errorf("second Close: %v", err)
			}
			if err := s.Renew(context.Background()); !errors.Is(err, ErrSubscriptionClosed) {
				t.Errorf("Renew after Close: %v", err)
			}
		})
	}
}

func TestSubscriptionRenewal(t *testing.T) {
	discNoLeak(t)
	pub := newGenaPub(t)
	pub.initial = false
	clk := newGenaClock()
	s, err := Subscribe(context.Background(), pub.service(), SubscribeOptions{HTTPClient: discGuardClient(t), after: clk.after})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if h := pub.header(0).Get("TIMEOUT"); h != "Second-1800" {
		t.Errorf("default TIMEOUT %q", h)
	}
	// Renewal at half the granted 60 s, with the same SID.
	if d := clk.tick(t); d != 30*time.Second {
		t.Errorf("renewal after %v, want 30s", d)
	}
	if d := clk.tick(t); d != 30*time.Second { // armed again after a good renewal
		t.Errorf("second renewal after %v", d)
	}
	if got := pub.requests(); len(got) < 2 || got[1] != "SUBSCRIBE uuid:sub-1" {
		t.Errorf("requests %v", got)
	}

	// The device reboots and forgets the SID: renewal gets 412, a fresh
	// SUBSCRIBE follows, and events for the new SID arrive.
	pub.forget()
	clk.tick(t)
	<-clk.waits // the loop armed the next timer: the resubscription is done
	if s.SID() != "uuid:sub-2" {
		t.Fatalf("SID after resubscribe = %q", s.SID())
	}
	if code := pub.notify("uuid:sub-2", 0, pub.initBody); code != http.StatusOK {
		t.Errorf("NOTIFY for new SID answered %d", code)
	}
	if ev := genaRecv(t, s); ev.SID != "uuid:sub-2" {
		t.Errorf("event %+v", ev)
	}
	// The old SID is refused.
	if code := genaSend(t, s.Callback().String(), map[string]string{"NT": "upnp:event", "NTS": "upnp:propchange", "SID": "uuid:sub-1", "SEQ": "5"}, pub.initBody); code != http.StatusPreconditionFailed {
		t.Errorf("old SID answered %d", code)
	}
	if err := s.Renew(context.Background()); err != nil {
		t.Errorf("explicit Renew: %v", err)
	}
	pub.forget()
	err = s.Renew(context.Background())
	if !errors.Is(err, ErrSubscriptionGone) {
		t.Errorf("Renew of a forgotten SID: %v", err)
	}
	var se *StatusError
	if !errors.As(err, &se) || se.StatusCode != 412 || se.Method != "SUBSCRIBE" {
		t.Errorf("Renew error %v", err)
	}
}

func TestSubscriptionGivesUp(t *testing.T) {
	discNoLeak(t)
	pub := newGenaPub(t)
	pub.initial = false
	clk := newGenaClock()
	s, err := Subscribe(context.Background(), pub.service(), SubscribeOptions{HTTPClient: discGuardClient(t), after: clk.after})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	pub.srv.Close() // the device is gone (or moved to another port)
	var waits []time.Duration
	for range maxRenewFailures {
		waits = append(waits, clk.tick(t))
	}
	select {
	case _, ok := <-s.Events():
		if ok {
			t.Fatal("event from a dead device")
		}
	case <-time.After(3 * time.Second):
		t.Fatal("events not closed after giving up")
	}
	if s.Err() == nil {
		t.Error("Err is nil after giving up")
	}
	// 30 s, then backoff 1, 2, 4, 8, 16 s, capped at 30 s.
	want := []time.Duration{30 * time.Second, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 30 * time.Second, 30 * time.Second}
	if len(want) != maxRenewFailures {
		t.Fatalf("test expects %d rounds, maxRenewFailures is %d", len(want), maxRenewFailures)
	}
	for i, w := range want {
		if waits[i] != w {
			t.Errorf("wait %d = %v, want %v (all %v)", i, waits[i], w, waits)
		}
	}
}

func TestSubscribeErrors(t *testing.T) {
	discNoLeak(t)
	pub := newGenaPub(t)
	o := SubscribeOptions{HTTPClient: discGuardClient(t)}

	pub.status = http.StatusInternalServerError
	_, err := Subscribe(context.Background(), pub.service(), o)
	var se *StatusError
	if !errors.As(err, &se) || se.StatusCode != 500 {
		t.Errorf("500: err = %v", err)
	}
	pub.status = 0
	pub.noSID = true
	if _, err := Subscribe(context.Background(), pub.service(), o); !errors.Is(err, ErrMalformedEvent) {
		t.Errorf("no SID: err = %v", err)
	}
	svc := pub.service()
	svc.EventSubURL = nil
	if _, err := Subscribe(context.Background(), svc, o); err == nil {
		t.Error("no eventSubURL: no error")
	}
	if _, err := NewSubscription(pub.service(), &url.URL{Scheme: "http", Host: "127.0.0.1:1>", Path: "/a"}, o); err == nil {
		t.Error("callback with > accepted")
	}
	if _, err := NewSubscription(pub.service(), &url.URL{Scheme: "https", Host: "127.0.0.1:1"}, o); err == nil {
		t.Error("https callback accepted")
	}
}

func TestSubscriptionHandler(t *testing.T) {
	discNoLeak(t)
	pub := newGenaPub(t)
	pub.initial = false
	s, err := Subscribe(context.Background(), pub.service(), SubscribeOptions{HTTPClient: discGuardClient(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	body := `<propertyset><property><ConnectionStatus>Connected</ConnectionStatus></property></propertyset>`
	ok := map[string]string{"NT": "upnp:event", "NTS": "upnp:propchange", "SID": s.SID(), "SEQ": "1"}
	with := func(k, v string) map[string]string {
		m := make(map[string]string)
		for a, b := range ok {
			m[a] = b
		}
		if v == "" {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	tests := []struct {
		name string
		hdr  map[string]string
		body string
		want int
	}{
		{"valid", ok, body, 200},
		{"missing NT", with("NT", ""), body, 400},
		{"missing NTS", with("NTS", ""), body, 400},
		{"wrong NT", with("NT", "upnp:other"), body, 412},
		{"wrong NTS", with("NTS", "ssdp:alive"), body, 412},
		{"missing SID", with("SID", ""), body, 412},
		{"unknown SID", with("SID", "uuid:nope"), body, 412},
		{"bad SEQ", with("SEQ", "x"), body, 400},
		{"bad body", ok, "<nope>", 400},
		{"body too large", ok, "<propertyset>" + strings.Repeat(" ", maxEventBody) + "</propertyset>", 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := genaSend(t, s.Callback().String(), tt.hdr, tt.body); got != tt.want {
				t.Errorf("status %d, want %d", got, tt.want)
			}
		})
	}
	if ev := genaRecv(t, s); ev.Seq != 1 {
		t.Errorf("event %+v", ev)
	}
	select {
	case ev := <-s.Events():
		t.Errorf("invalid NOTIFY delivered: %+v", ev)
	default:
	}

	// Wrong path on the listener, wrong method, wrong sender.
	u := s.Callback()
	u.Path = "/portmap/gena/guess"
	if got := genaSend(t, u.String(), ok, body); got != 404 {
		t.Errorf("guessed path: %d", got)
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != 405 {
		t.Errorf("GET: %d", rec.Code)
	}
	req := httptest.NewRequest("NOTIFY", "/", strings.NewReader(body))
	req.RemoteAddr = "192.168.1.66:5000" // a neighbour, not the device
	for k, v := range ok {
		req.Header[k] = []string{v}
	}
	rec = httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	if rec.Code != 403 {
		t.Errorf("NOTIFY from another host: %d", rec.Code)
	}
}

func TestSubscriptionDropsWhenFull(t *testing.T) {
	discNoLeak(t)
	pub := newGenaPub(t)
	pub.initial = false
	s, err := Subscribe(context.Background(), pub.service(), SubscribeOptions{HTTPClient: discGuardClient(t), EventBuffer: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for seq := range uint32(3) {
		// Never blocks the device, even with nobody reading.
		if code := pub.notify(s.SID(), seq+1, pub.initBody); code != 200 {
			t.Errorf("NOTIFY %d answered %d", seq, code)
		}
	}
	if ev := genaRecv(t, s); ev.Seq != 1 {
		t.Errorf("kept event %d, want the first", ev.Seq)
	}
}

func TestNewSubscriptionOwnServer(t *testing.T) {
	// A caller that serves NOTIFY through its own server.
	discNoLeak(t)
	pub := newGenaPub(t)
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	defer srv.Close()
	cb, _ := url.Parse(srv.URL + "/events")
	s, err := NewSubscription(pub.service(), cb, SubscribeOptions{HTTPClient: discGuardClient(t)})
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle("/events", s)
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err == nil {
		t.Error("second Start succeeded")
	}
	if ev := genaRecv(t, s); ev.Seq != 0 || len(ev.Properties) != 5 {
		t.Errorf("event %+v", ev)
	}
	if err := s.Unsubscribe(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); !errors.Is(err, ErrSubscriptionClosed) {
		t.Errorf("Start after Unsubscribe: %v", err)
	}
}

func TestLocalAddrToward(t *testing.T) {
	u, _ := url.Parse("http://127.0.0.1:5000/evt")
	a, err := localAddrToward(context.Background(), u)
	if err != nil || a != netip.MustParseAddr("127.0.0.1") {
		t.Errorf("got %v, %v", a, err)
	}
	u, _ = url.Parse("http://127.0.0.1:99999/evt")
	if _, err := localAddrToward(context.Background(), u); err == nil {
		t.Error("bad port accepted")
	}
}
