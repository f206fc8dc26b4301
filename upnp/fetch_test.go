package upnp

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
)

func TestFetchDescription(t *testing.T) {
	big := strings.Repeat("x", maxDescriptionSize+1)
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "<root/>") })
	mux.HandleFunc("/missing", http.NotFound)
	mux.HandleFunc("/big-length", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, big) })
	mux.HandleFunc("/big-chunked", func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i < len(big); i += 4096 {
			io.WriteString(w, big[i:min(i+4096, len(big))])
			w.(http.Flusher).Flush()
		}
	})
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) {
		// A redirect off the LAN must not be followed.
		http.Redirect(w, r, "http://203.0.113.1/rootDesc.xml", http.StatusFound)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	tests := []struct {
		path    string
		want    string
		wantErr error
		status  int
	}{
		{"/ok", "<root/>", nil, 0},
		{"/missing", "", nil, 404},
		{"/big-length", "", ErrDescriptionTooLarge, 0},
		{"/big-chunked", "", ErrDescriptionTooLarge, 0},
		{"/redirect", "", nil, 302},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			u, _ := url.Parse(srv.URL + tt.path)
			// Both the default client and a caller's client refuse redirects.
			for _, hc := range []*http.Client{nil, discGuardClient(t)} {
				if hc == nil && tt.path != "/redirect" {
					continue
				}
				b, err := fetchDescription(context.Background(), hc, u)
				switch {
				case tt.status != 0:
					var se *StatusError
					if !errors.As(err, &se) || se.StatusCode != tt.status || se.Method != "GET" {
						t.Fatalf("err = %v, want HTTP %d", err, tt.status)
					}
				case tt.wantErr != nil:
					if !errors.Is(err, tt.wantErr) {
						t.Fatalf("err = %v, want %v", err, tt.wantErr)
					}
				default:
					if err != nil || string(b) != tt.want {
						t.Fatalf("got %q, %v", b, err)
					}
				}
			}
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	u, _ := url.Parse(srv.URL + "/ok")
	if _, err := fetchDescription(ctx, discGuardClient(t), u); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled: err = %v", err)
	}
}

func TestURLPolicy(t *testing.T) {
	gw := netip.MustParseAddr("192.168.1.1")
	tests := []struct {
		url      string
		origin   netip.Addr
		allowLAN bool
		ok       bool
	}{
		{"http://192.168.1.1:5000/rootDesc.xml", gw, false, true},
		{"https://192.168.1.1/rootDesc.xml", gw, false, true},
		{"http://[::ffff:192.168.1.1]:5000/", gw, false, true},
		{"http://192.168.1.2:5000/", gw, false, false},
		{"http://192.168.1.2:5000/", gw, true, true},
		{"http://10.1.2.3/", gw, true, true},
		{"http://[fd00::1]/", gw, true, true},
		{"http://[fe80::1]/", netip.MustParseAddr("fe80::1%eth0"), false, true},
		{"http://169.254.1.1/", gw, true, true},
		{"http://100.64.1.1/", gw, true, false}, // CGNAT: other customers
		{"http://203.0.113.1/", gw, true, false},
		{"http://127.0.0.1/", gw, true, false}, // loopback only from loopback
		{"http://127.0.0.2/", netip.MustParseAddr("127.0.0.1"), true, true},
		{"http://router.lan/", gw, true, false},
		{"http://user:pw@192.168.1.1/", gw, false, false},
		{"ftp://192.168.1.1/", gw, false, false},
		{"file:///etc/passwd", gw, true, false},
		{"//192.168.1.1/", gw, false, false},
	}
	for _, tt := range tests {
		u, err := url.Parse(tt.url)
		if err != nil {
			t.Fatal(err)
		}
		_, err = urlPolicy{allowLAN: tt.allowLAN}.check(u, tt.origin)
		if (err == nil) != tt.ok {
			t.Errorf("check(%s, %s, lan=%v) = %v, want ok=%v", tt.url, tt.origin, tt.allowLAN, err, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrUnsafeURL) {
			t.Errorf("error %v does not wrap ErrUnsafeURL", err)
		}
	}
	if _, err := (urlPolicy{}).check(nil, gw); !errors.Is(err, ErrUnsafeURL) {
		t.Errorf("nil URL: %v", err)
	}
}

func TestWithZone(t *testing.T) {
	tests := []struct{ in, zone, want string }{
		{"http://[fe80::1]:5000/d.xml", "eth0", "http://[fe80::1%25eth0]:5000/d.xml"},
		{"http://[fe80::1]/d.xml", "eth0", "http://[fe80::1%25eth0]/d.xml"},
		{"http://[fd00::1]:5000/d.xml", "eth0", "http://[fd00::1]:5000/d.xml"},
		{"http://10.0.0.1:5000/d.xml", "eth0", "http://10.0.0.1:5000/d.xml"},
		{"http://[fe80::1]:5000/d.xml", "", "http://[fe80::1]:5000/d.xml"},
	}
	for _, tt := range tests {
		u, _ := url.Parse(tt.in)
		got := withZone(u, tt.zone)
		if got.String() != tt.want {
			t.Errorf("withZone(%s, %q) = %s, want %s", tt.in, tt.zone, got, tt.want)
		}
		if got == u {
			t.Error("withZone did not copy")
		}
	}
}

func TestIsPublicAddr(t *testing.T) {
	for s, want := range map[string]bool{
		"11.77.0.1": true, "198.51.100.20": true, "2001:db8::1": true,
		"192.168.1.1": false, "10.0.0.1": false, "100.64.0.1": false, "100.127.255.255": false,
		"127.0.0.1": false, "169.254.1.1": false, "0.0.0.0": false, "fd00::1": false, "fe80::1": false,
		"224.0.0.1": false,
	} {
		if got := isPublicAddr(netip.MustParseAddr(s)); got != want {
			t.Errorf("isPublicAddr(%s) = %v", s, got)
		}
	}
	if isPublicAddr(netip.Addr{}) {
		t.Error("zero Addr public")
	}
}
