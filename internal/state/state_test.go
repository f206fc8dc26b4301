package state

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/portmap-dev/portmap"
)

func TestPutLoadRemove(t *testing.T) {
	f := File{Path: filepath.Join(t.TempDir(), "sub", "mappings.json")}
	if ms, err := f.Load(); err != nil || len(ms) != 0 {
		t.Fatalf("empty Load = %v, %v", ms, err)
	}
	gw := netip.MustParseAddr("10.0.0.1")
	m := portmap.Mapping{
		Protocol: portmap.PCP, Gateway: gw, Transport: portmap.TCP,
		External: netip.MustParseAddrPort("11.0.0.1:18080"), Internal: netip.MustParseAddrPort("10.0.0.2:8080"),
		Lifetime: time.Hour, Expires: time.Now().Add(time.Hour), Nonce: []byte{1, 2, 3},
	}
	expired := m
	expired.External = netip.MustParseAddrPort("11.0.0.1:18081")
	expired.Expires = time.Now().Add(-time.Second)
	for _, x := range []portmap.Mapping{m, expired, m} {
		if err := f.Put(x); err != nil {
			t.Fatal(err)
		}
	}
	ms, err := f.Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 1 || ms[0].External != m.External || string(ms[0].Nonce) != string(m.Nonce) {
		t.Fatalf("Load = %+v, want only %+v", ms, m)
	}
	if fi, err := os.Stat(f.Path); err != nil || fi.Mode().Perm()&0o077 != 0 {
		t.Errorf("state file mode: %v %v", fi, err)
	}
	if err := f.Remove(func(o portmap.Mapping) bool { return o.External.Port() == 18080 }); err != nil {
		t.Fatal(err)
	}
	if ms, _ := f.Load(); len(ms) != 0 {
		t.Fatalf("after Remove: %+v", ms)
	}
}

func TestDamagedFile(t *testing.T) {
	f := File{Path: filepath.Join(t.TempDir(), "mappings.json")}
	os.WriteFile(f.Path, []byte("{not json"), 0o600)
	if _, err := f.Load(); err == nil {
		t.Fatal("damaged file loaded without error")
	}
}

func TestApply(t *testing.T) {
	f := File{Path: filepath.Join(t.TempDir(), "mappings.json")}
	mk := func(port uint16) portmap.Mapping {
		return portmap.Mapping{Protocol: portmap.NATPMP, Transport: portmap.TCP, External: netip.AddrPortFrom(netip.MustParseAddr("11.0.0.1"), port)}
	}
	if err := f.Apply([]portmap.Mapping{mk(1), mk(2), mk(3)}, nil); err != nil {
		t.Fatal(err)
	}
	if err := f.Apply([]portmap.Mapping{mk(4)}, []portmap.Mapping{mk(2)}); err != nil {
		t.Fatal(err)
	}
	ms, err := f.Load()
	if err != nil {
		t.Fatal(err)
	}
	got := map[uint16]bool{}
	for _, m := range ms {
		got[m.External.Port()] = true
	}
	if len(ms) != 3 || !got[1] || got[2] || !got[3] || !got[4] {
		t.Errorf("after Apply: %v", got)
	}
}
