package upnp

import (
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

func testEntry(loc string, saved time.Time) CacheEntry {
	return CacheEntry{
		Location: loc, Gateway: netip.MustParseAddr("10.77.0.1"), DeviceType: STIGDv2, Version: 2,
		WAN: 0, Firewall: -1, CommonInterface: -1, Saved: saved,
		Services: []CachedService{{Type: "urn:schemas-upnp-org:service:WANIPConnection:2", ControlURL: loc + "/ctl"}},
	}
}

func TestCaches(t *testing.T) {
	impls := map[string]func(t *testing.T) Cache{
		"memory": func(*testing.T) Cache { return NewMemoryCache() },
		"file":   func(t *testing.T) Cache { return NewFileCache(filepath.Join(t.TempDir(), "sub", "upnp.json")) },
	}
	for name, mk := range impls {
		t.Run(name, func(t *testing.T) {
			c := mk(t)
			gw := netip.MustParseAddr("10.77.0.1")
			if _, ok := c.Get(gw); ok {
				t.Fatal("empty cache has an entry")
			}
			if err := c.Delete(gw); err != nil {
				t.Fatalf("deleting nothing: %v", err)
			}
			e := testEntry("http://10.77.0.1:5000/rootDesc.xml", time.Unix(1700000000, 0).UTC())
			if err := c.Put(gw, e); err != nil {
				t.Fatal(err)
			}
			got, ok := c.Get(netip.MustParseAddr("::ffff:10.77.0.1")) // mapped form finds it too
			if !ok || got.Location != e.Location || len(got.Services) != 1 || !got.Saved.Equal(e.Saved) {
				t.Fatalf("Get = %+v, %v", got, ok)
			}
			got.Services[0].Type = "changed" // must not alias the cache
			if again, _ := c.Get(gw); again.Services[0].Type == "changed" {
				t.Error("Get returned an aliased slice")
			}
			if err := c.Delete(gw); err != nil {
				t.Fatal(err)
			}
			if _, ok := c.Get(gw); ok {
				t.Error("entry still there after Delete")
			}
			// Bounded: the oldest entries are evicted.
			base := time.Unix(1700000000, 0)
			for i := range maxCacheEntries + 5 {
				a := netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})
				if err := c.Put(a, testEntry("http://"+a.String()+"/d.xml", base.Add(time.Duration(i)*time.Second))); err != nil {
					t.Fatal(err)
				}
			}
			n := 0
			for i := range maxCacheEntries + 5 {
				if _, ok := c.Get(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})); ok {
					n++
				} else if i >= 5 {
					t.Errorf("entry %d (recent) evicted", i)
				}
			}
			if n != maxCacheEntries {
				t.Errorf("%d entries kept, want %d", n, maxCacheEntries)
			}
		})
	}
}

func TestFileCacheFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "portmap", "upnp.json")
	c := NewFileCache(path)
	if c.Path() != path {
		t.Errorf("Path = %s", c.Path())
	}
	gw := netip.MustParseAddr("10.77.0.1")
	if err := c.Put(gw, testEntry("http://10.77.0.1:5000/rootDesc.xml", time.Now())); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	// No temporary files left behind.
	ents, _ := os.ReadDir(filepath.Dir(path))
	if len(ents) != 1 {
		t.Errorf("directory holds %d files", len(ents))
	}
	b, _ := os.ReadFile(path)
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil || doc["version"] != float64(1) {
		t.Errorf("file content %s (%v)", b, err)
	}
	// A second FileCache (another process) sees the entry.
	if _, ok := NewFileCache(path).Get(gw); !ok {
		t.Error("entry not visible through another FileCache")
	}

	// A corrupt or foreign file reads as empty and is replaced on write.
	for _, junk := range []string{"{not json", `{"version": 99, "entries": {}}`, strings.Repeat("x", maxCacheFile+10)} {
		if err := os.WriteFile(path, []byte(junk), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, ok := c.Get(gw); ok {
			t.Errorf("corrupt file %.20q yields an entry", junk)
		}
		if err := c.Delete(gw); err != nil {
			t.Fatal(err)
		}
		if err := c.Put(gw, testEntry("http://10.77.0.1:5000/rootDesc.xml", time.Now())); err != nil {
			t.Fatal(err)
		}
		if _, ok := c.Get(gw); !ok {
			t.Error("Put after corruption did not store")
		}
	}
}

func TestFileCacheUnwritable(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "file")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	// The cache directory would have to be below a regular file.
	c := NewFileCache(filepath.Join(blocker, "upnp.json"))
	if err := c.Put(netip.MustParseAddr("10.0.0.1"), testEntry("http://10.0.0.1/", time.Now())); err == nil {
		t.Error("Put into an impossible directory succeeded")
	}
}

func TestDefaultCachePath(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", "/tmp/xdg-cache-test")
	t.Setenv("HOME", "/tmp/home-test")
	p, err := DefaultCachePath()
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(p) != "upnp.json" || filepath.Base(filepath.Dir(p)) != "portmap" {
		t.Errorf("DefaultCachePath = %s", p)
	}
	if runtime.GOOS == "linux" && p != "/tmp/xdg-cache-test/portmap/upnp.json" {
		t.Errorf("DefaultCachePath = %s", p)
	}
}
