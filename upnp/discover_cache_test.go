package upnp

import (
	"context"
	"net"
	"net/netip"
	"net/url"
	"path/filepath"
	"testing"
	"time"
)

func TestDiscoverCache(t *testing.T) {
	impls := map[string]func(t *testing.T) Cache{
		"memory": func(*testing.T) Cache { return NewMemoryCache() },
		"file":   func(t *testing.T) Cache { return NewFileCache(filepath.Join(t.TempDir(), "upnp.json")) },
	}
	for name, mk := range impls {
		t.Run(name, func(t *testing.T) {
			discNoLeak(t)
			cache := mk(t)
			igdSrv := newDiscIGD(t, discFixture(t, miniupnpdDesc), miniupnpdWAN())
			gw := newDiscResponder(t, igdSrv.URL()).start()
			o := discOptions(t, gw, nil)
			o.Cache = cache

			first, err := Discover(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			if first.FromCache {
				t.Error("first Discover came from the cache")
			}
			e, ok := cache.Get(o.Gateway)
			if !ok || e.Location != igdSrv.URL() || e.Services[e.WAN].ControlURL != igdSrv.srv.URL+"/ctl/IPConn" {
				t.Fatalf("cache entry %+v, %v", e, ok)
			}
			// The first search sent one M-SEARCH per target; let the
			// responder finish reading them before counting.
			for i := 0; i < 50 && gw.searches.Load() < int32(len(DefaultSearchTargets)); i++ {
				time.Sleep(10 * time.Millisecond)
			}
			searches, fetches := gw.searches.Load(), igdSrv.count("/rootDesc.xml")

			// Second run: no SSDP, no description, one validating SOAP call.
			second, err := Discover(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			if !second.FromCache || second.BootID != -1 {
				t.Errorf("second Discover: FromCache %v BootID %d", second.FromCache, second.BootID)
			}
			// The validating call's answer is kept: nobody asks again.
			if want := netip.MustParseAddr("11.77.0.1"); second.ExternalIP != want {
				t.Errorf("second Discover: ExternalIP %v, want %v", second.ExternalIP, want)
			}
			if gw.searches.Load() != searches || igdSrv.count("/rootDesc.xml") != fetches {
				t.Error("second Discover searched or fetched the description")
			}
			if n := igdSrv.soapCalls(); n != 1 {
				t.Errorf("%d SOAP calls, want 1 (validation)", n)
			}
			if second.WAN.Service.ControlURL.String() != first.WAN.Service.ControlURL.String() ||
				second.Firewall == nil || second.CommonInterface == nil ||
				second.FriendlyName != first.FriendlyName || second.Version != 2 || len(second.Services) != len(first.Services) {
				t.Errorf("cached IGD differs: %+v", second)
			}
		})
	}
}

func TestDiscoverCacheStale(t *testing.T) {
	// The gateway rebooted and now serves UPnP on another HTTP port
	// (miniupnpd with http_port=0, many vendor firmwares): the cached
	// control URL is refused, the entry dropped, and a search finds the
	// new one.
	discNoLeak(t)
	cache := NewMemoryCache()
	old := newDiscIGD(t, discFixture(t, miniupnpdDesc), miniupnpdWAN())
	gw := newDiscResponder(t, old.URL()).start()
	o := discOptions(t, gw, nil)
	o.Cache = cache
	if _, err := Discover(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	old.srv.Close()
	moved := newDiscIGD(t, discFixture(t, miniupnpdDesc), miniupnpdWAN())
	gw.setLocation(moved.URL()) // the responder now points at the new port
	searches := gw.searches.Load()

	igd, err := Discover(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if igd.FromCache || igd.Location.String() != moved.URL() {
		t.Errorf("got FromCache=%v location %s", igd.FromCache, igd.Location)
	}
	if gw.searches.Load() == searches {
		t.Error("no new search after the cached entry failed")
	}
	if e, ok := cache.Get(o.Gateway); !ok || e.Location != moved.URL() {
		t.Errorf("cache not updated: %+v %v", e, ok)
	}
}

func TestDiscoverCacheValidation(t *testing.T) {
	tests := []struct {
		name  string
		wan   discWAN
		valid bool
	}{
		{"connected", discWAN{Status: "Connected", IP: "11.77.0.1"}, true},
		// WAN link down: the SOAP answer still proves the URL alive.
		{"no external address", discWAN{Status: "Disconnected", IP: ""}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			discNoLeak(t)
			igdSrv := newDiscIGD(t, discFixture(t, miniupnpdDesc), map[string]discWAN{"/ctl/IPConn": tt.wan})
			gw := newDiscResponder(t, igdSrv.URL()).start()
			o := discOptions(t, gw, nil)
			o.Cache = NewMemoryCache()
			if _, err := Discover(context.Background(), o); err != nil {
				t.Fatal(err)
			}
			igd, err := Discover(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			if igd.FromCache != tt.valid {
				t.Errorf("FromCache = %v, want %v", igd.FromCache, tt.valid)
			}
		})
	}
	t.Run("HTTP 404 without fault", func(t *testing.T) {
		discNoLeak(t)
		igdSrv := newDiscIGD(t, discFixture(t, miniupnpdDesc), miniupnpdWAN())
		gw := newDiscResponder(t, igdSrv.URL()).start()
		o := discOptions(t, gw, nil)
		o.Cache = NewMemoryCache()
		if _, err := Discover(context.Background(), o); err != nil {
			t.Fatal(err)
		}
		e, _ := o.Cache.Get(o.Gateway)
		e.Services[e.WAN].ControlURL = igdSrv.srv.URL + "/ctl/moved"
		o.Cache.Put(o.Gateway, e)
		igd, err := Discover(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		if igd.FromCache || igd.WAN.Service.ControlURL.Path != "/ctl/IPConn" {
			t.Errorf("stale entry used: FromCache %v %s", igd.FromCache, igd.WAN.Service.ControlURL)
		}
	})
}

func TestDiscoverCacheRefusesUnsafeEntry(t *testing.T) {
	// A cache file edited to point elsewhere is refused before any
	// request (the guard client fails the test if a non-loopback address
	// is dialled; other, a second fake IGD on another loopback address,
	// counts what reaches it), dropped, and replaced by a search's result.
	const offLAN = "203.0.113.5"
	tests := []struct {
		name     string
		allowLAN bool
		other    bool // the case needs the second fake IGD
		edit     func(e *CacheEntry, other netip.AddrPort)
	}{
		{name: "location off the LAN", edit: func(e *CacheEntry, _ netip.AddrPort) {
			e.Location = "http://" + offLAN + "/rootDesc.xml"
		}},
		{name: "control off the LAN", edit: func(e *CacheEntry, _ netip.AddrPort) {
			e.Services[e.WAN].ControlURL = "http://" + offLAN + "/ctl"
		}},
		{name: "WAN index wrong", edit: func(e *CacheEntry, _ netip.AddrPort) { e.WAN = 99 }},
		{name: "WAN not a WAN", edit: func(e *CacheEntry, _ netip.AddrPort) { e.WAN = e.CommonInterface }},
		// The entry's Gateway field is not what URLs are checked against:
		// an edit that moves it along with every URL is still refused.
		{name: "gateway not the key, all off the LAN", edit: func(e *CacheEntry, _ netip.AddrPort) {
			moveEntry(e, netip.AddrPortFrom(netip.MustParseAddr(offLAN), 80))
		}},
		{name: "gateway not the key, all on another host", other: true, edit: moveEntry},
		{name: "gateway not the key, all on another LAN host, AllowLANLocations", allowLAN: true, other: true, edit: moveEntry},
		{name: "control on another host", other: true, edit: func(e *CacheEntry, other netip.AddrPort) {
			e.Services[e.WAN].ControlURL = "http://" + other.String() + "/ctl/IPConn"
		}},
	}
	caches := map[string]func(t *testing.T) Cache{
		"memory": func(*testing.T) Cache { return NewMemoryCache() },
		"file":   func(t *testing.T) Cache { return NewFileCache(filepath.Join(t.TempDir(), "upnp.json")) },
	}
	for _, tt := range tests {
		for cname, mk := range caches {
			t.Run(tt.name+"/"+cname, func(t *testing.T) {
				discNoLeak(t)
				var other *discIGD
				var otherAP netip.AddrPort
				if tt.other {
					other = newDiscIGDOtherHost(t)
					otherAP = netip.MustParseAddrPort(other.srv.Listener.Addr().String())
				}
				igdSrv := newDiscIGD(t, discFixture(t, miniupnpdDesc), miniupnpdWAN())
				gw := newDiscResponder(t, igdSrv.URL()).start()
				o := discOptions(t, gw, nil)
				o.AllowLANLocations = tt.allowLAN
				o.Cache = mk(t)
				if _, err := Discover(context.Background(), o); err != nil {
					t.Fatal(err)
				}
				e, _ := o.Cache.Get(o.Gateway)
				tt.edit(&e, otherAP)
				if err := o.Cache.Put(o.Gateway, e); err != nil {
					t.Fatal(err)
				}
				calls := igdSrv.soapCalls()
				igd, err := Discover(context.Background(), o)
				if err != nil {
					t.Fatal(err)
				}
				if igd.FromCache || igdSrv.soapCalls() != calls {
					t.Errorf("unsafe entry used (FromCache %v)", igd.FromCache)
				}
				if other != nil && (other.soapCalls() != 0 || other.count("/rootDesc.xml") != 0) {
					t.Errorf("the other host got %d SOAP calls", other.soapCalls())
				}
				if igd.Gateway != o.Gateway {
					t.Errorf("IGD gateway %s, want %s", igd.Gateway, o.Gateway)
				}
				if e, ok := o.Cache.Get(o.Gateway); !ok || e.Gateway != o.Gateway || e.Location != igdSrv.URL() {
					t.Errorf("entry not replaced by the search's: gateway %s location %s (%v)", e.Gateway, e.Location, ok)
				}
			})
		}
	}
}

// moveEntry points e's gateway, description and service URLs at to, as an
// edit of the cache file would.
func moveEntry(e *CacheEntry, to netip.AddrPort) {
	move := func(s string) string {
		u, err := url.Parse(s)
		if s == "" || err != nil {
			return s
		}
		u.Host = to.String()
		return u.String()
	}
	e.Gateway = to.Addr()
	e.Location = move(e.Location)
	for i := range e.Services {
		s := &e.Services[i]
		s.ControlURL, s.EventSubURL, s.SCPDURL = move(s.ControlURL), move(s.EventSubURL), move(s.SCPDURL)
	}
}

// newDiscIGDOtherHost starts a fake IGD on a loopback address other than
// 127.0.0.1 (where the tests' gateway is), or skips the test when the
// system has none (macOS only configures 127.0.0.1).
func newDiscIGDOtherHost(t *testing.T) *discIGD {
	t.Helper()
	for _, addr := range []string{"127.0.0.2:0", "[::1]:0"} {
		if ln, err := net.Listen("tcp", addr); err == nil {
			return newDiscIGDOn(t, ln, discFixture(t, miniupnpdDesc), miniupnpdWAN())
		}
	}
	t.Skip("no loopback address other than 127.0.0.1")
	return nil
}

func TestDiscoverCacheTimeBound(t *testing.T) {
	// A cached gateway that accepts but never answers costs at most
	// cacheValidateTimeout before the search.
	discNoLeak(t)
	igdSrv := newDiscIGD(t, discFixture(t, miniupnpdDesc), miniupnpdWAN())
	gw := newDiscResponder(t, igdSrv.URL()).start()
	o := discOptions(t, gw, nil)
	o.Cache = NewMemoryCache()
	if _, err := Discover(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	defer func(d time.Duration) { cacheValidateTimeout = d }(cacheValidateTimeout)
	cacheValidateTimeout = 200 * time.Millisecond
	igdSrv.mu.Lock()
	igdSrv.delay = time.Minute
	igdSrv.mu.Unlock()
	// The search's description fetch is delayed too, past this deadline.
	ctx, cancel := context.WithTimeout(context.Background(), cacheValidateTimeout+100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := Discover(ctx, o)
	if err == nil {
		t.Fatal("Discover succeeded against a hanging gateway")
	}
	if took := time.Since(start); took > cacheValidateTimeout+2*time.Second { // generous: loaded CI machines
		t.Errorf("took %v", took)
	}
	if _, ok := o.Cache.Get(o.Gateway); ok {
		t.Error("hanging entry not dropped")
	}
}
