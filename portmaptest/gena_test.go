package portmaptest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/portmap-dev/portmap/upnp"
)

type genaEvent struct {
	sid   string
	seq   uint32
	props map[string]string
}

// eventSink is a loopback HTTP server receiving NOTIFY requests.
func eventSink(t *testing.T) (*httptest.Server, chan genaEvent) {
	t.Helper()
	ch := make(chan genaEvent, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<16))
		props, err := upnp.ParsePropertySet(b)
		if r.Method != "NOTIFY" || r.Header.Get("NT") != "upnp:event" || r.Header.Get("NTS") != "upnp:propchange" || err != nil {
			t.Errorf("bad NOTIFY %s %v %v", r.Method, r.Header, err)
		}
		seq, _ := strconv.ParseUint(r.Header.Get("SEQ"), 10, 32)
		ev := genaEvent{sid: r.Header.Get("SID"), seq: uint32(seq), props: map[string]string{}}
		for _, p := range props {
			ev.props[p.Name] = p.Value
		}
		ch <- ev
	}))
	t.Cleanup(srv.Close)
	return srv, ch
}

func genaRequest(t *testing.T, method, url string, hdr map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(testCtx(t), method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func nextEvent(t *testing.T, ch chan genaEvent) genaEvent {
	t.Helper()
	select {
	case ev := <-ch:
		return ev
	case <-time.After(2 * time.Second):
		t.Fatal("no event")
	}
	return genaEvent{}
}

func TestGENA(t *testing.T) {
	gw := NewGateway(t)
	sink, events := eventSink(t)
	evtURL := "http://" + gw.HTTPAddr().String() + "/evt/IPConn"
	resp := genaRequest(t, "SUBSCRIBE", evtURL, map[string]string{"CALLBACK": "<" + sink.URL + "/cb>", "NT": "upnp:event", "TIMEOUT": "Second-300"})
	sid := resp.Header.Get("SID")
	if resp.StatusCode != 200 || sid == "" || resp.Header.Get("TIMEOUT") != "Second-300" {
		t.Fatalf("SUBSCRIBE: %d %v", resp.StatusCode, resp.Header)
	}
	ev := nextEvent(t, events)
	if ev.sid != sid || ev.seq != 0 || ev.props["ExternalIPAddress"] != DefaultExternalIP.String() || ev.props["PortMappingNumberOfEntries"] != "0" {
		t.Fatalf("initial event %+v", ev)
	}
	gw.SetExternalIP(netip.MustParseAddr("11.77.0.5"))
	if ev := nextEvent(t, events); ev.seq != 1 || ev.props["ExternalIPAddress"] != "11.77.0.5" {
		t.Fatalf("address event %+v", ev)
	}
	mustAdd(t, gw, Mapping{Transport: "UDP", ExternalPort: 1234, InternalAddr: otherHost, InternalPort: 1})
	if ev := nextEvent(t, events); ev.seq != 2 || ev.props["PortMappingNumberOfEntries"] != "1" {
		t.Fatalf("mapping event %+v", ev)
	}
	if resp := genaRequest(t, "SUBSCRIBE", evtURL, map[string]string{"SID": sid, "TIMEOUT": "Second-5"}); resp.StatusCode != 200 || resp.Header.Get("TIMEOUT") != "Second-60" {
		t.Fatalf("renewal: %d %v", resp.StatusCode, resp.Header)
	}
	gw.Reboot()
	if resp := genaRequest(t, "SUBSCRIBE", evtURL, map[string]string{"SID": sid}); resp.StatusCode != http.StatusPreconditionFailed {
		t.Fatalf("renewal after reboot: %d, want 412", resp.StatusCode)
	}
	if resp := genaRequest(t, "UNSUBSCRIBE", evtURL, map[string]string{"SID": sid}); resp.StatusCode != http.StatusPreconditionFailed {
		t.Fatalf("unsubscribe after reboot: %d, want 412", resp.StatusCode)
	}
}

func TestGENARefusals(t *testing.T) {
	gw := NewGateway(t)
	sink, _ := eventSink(t)
	evtURL := "http://" + gw.HTTPAddr().String() + "/evt/IPConn"
	for _, tc := range []struct {
		name   string
		hdr    map[string]string
		status int
	}{
		{"callback on another host", map[string]string{"CALLBACK": "<http://192.0.2.1:80/cb>", "NT": "upnp:event"}, 412},
		{"callback by name", map[string]string{"CALLBACK": "<http://localhost/cb>", "NT": "upnp:event"}, 412},
		{"no NT", map[string]string{"CALLBACK": "<" + sink.URL + ">"}, 412},
		{"SID and CALLBACK", map[string]string{"SID": "uuid:x", "CALLBACK": "<" + sink.URL + ">"}, 400},
		{"unknown SID", map[string]string{"SID": "uuid:x"}, 412},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if resp := genaRequest(t, "SUBSCRIBE", evtURL, tc.hdr); resp.StatusCode != tc.status {
				t.Fatalf("got %d, want %d", resp.StatusCode, tc.status)
			}
		})
	}
	gw.FailNext("gena:subscribe", 500)
	if resp := genaRequest(t, "SUBSCRIBE", evtURL, map[string]string{"CALLBACK": "<" + sink.URL + ">", "NT": "upnp:event"}); resp.StatusCode != 500 {
		t.Fatalf("injected: %d", resp.StatusCode)
	}
	if resp := genaRequest(t, "GET", evtURL, nil); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET on event URL: %d", resp.StatusCode)
	}
	if resp := genaRequest(t, "SUBSCRIBE", "http://"+gw.HTTPAddr().String()+"/evt/Nope", nil); resp.StatusCode != 404 {
		t.Fatalf("unknown service: %d", resp.StatusCode)
	}
}

func TestCallbackURL(t *testing.T) {
	me := netip.MustParseAddr("127.0.0.1")
	for _, tc := range []struct {
		h, want string
		ok      bool
	}{
		{"<http://127.0.0.1:5000/x>", "http://127.0.0.1:5000/x", true},
		{"<http://10.0.0.1/><http://127.0.0.1/y>", "http://127.0.0.1/y", true},
		{"<https://127.0.0.1/>", "", false},
		{"<http://user@127.0.0.1/>", "", false},
		{"http://127.0.0.1/", "", false},
		{"<http://127.0.0.1/", "", false},
		{"", "", false},
	} {
		got, ok := callbackURL(tc.h, me)
		if got != tc.want || ok != tc.ok {
			t.Errorf("%q: got %q %v", tc.h, got, ok)
		}
	}
}
