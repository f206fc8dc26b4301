package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portmap-dev/portmap/portmaptest"
)

// portmapRun runs the command in-process against a fake gateway.
type portmapRun struct {
	t     *testing.T
	gw    *portmaptest.Gateway
	state string
}

func newRun(t *testing.T, opts ...portmaptest.Option) *portmapRun {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	t.Setenv("PORTMAP_GATEWAY", "")
	return &portmapRun{t: t, gw: portmaptest.NewGateway(t, opts...), state: filepath.Join(t.TempDir(), "mappings.json")}
}

func (r *portmapRun) run(args ...string) (stdout, stderr string, code int) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(r.t.Context(), 10*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	all := append([]string{"--gateway", r.gw.GatewayFlag(), "--state", r.state}, args...)
	code = run(ctx, all, &out, &errb)
	return out.String(), errb.String(), code
}

func TestCommandsAgainstFakeGateway(t *testing.T) {
	for _, via := range []string{"upnp", "natpmp", "pcp", "auto"} {
		t.Run(via, func(t *testing.T) {
			r := newRun(t)
			out, errs, code := r.run("--via", via, "--json", "add", "18080:8080/udp", "--description", `a <b> & "c"`)
			if code != 0 {
				t.Fatalf("add: exit %d: %s", code, errs)
			}
			var m mappingJSON
			if err := json.Unmarshal([]byte(out), &m); err != nil {
				t.Fatalf("add --json: %v: %s", err, out)
			}
			if m.ExternalPort != 18080 || m.InternalPort != 8080 || m.Transport != "udp" || m.ExternalIP != portmaptest.DefaultExternalIP.String() {
				t.Errorf("add: %+v", m)
			}
			if via == "upnp" {
				if gm := r.gw.Mappings(); len(gm) != 1 || gm[0].Description != `a <b> & "c"` {
					t.Errorf("description did not arrive intact: %+v", gm)
				}
			}
			out, _, code = r.run("--via", via, "--json", "list")
			var list []mappingJSON
			if code != 0 || json.Unmarshal([]byte(out), &list) != nil || len(list) != 1 || list[0].ExternalPort != 18080 {
				t.Errorf("list: exit %d, %s", code, out)
			}
			if _, errs, code = r.run("--via", via, "delete", "18080/udp"); code != 0 {
				t.Fatalf("delete: exit %d: %s", code, errs)
			}
			if gm := r.gw.Mappings(); len(gm) != 0 {
				t.Errorf("left in the gateway after delete: %+v", gm)
			}
		})
	}
}

func TestExitCodes(t *testing.T) {
	r := newRun(t)
	tests := []struct {
		args []string
		code int
		says string
	}{
		{[]string{"version"}, 0, ""},
		{[]string{"add", "0"}, 2, "invalid port"},
		{[]string{"add", "1:2:3"}, 2, "invalid port"},
		{[]string{"add"}, 2, "add needs one port"},
		{[]string{"nonsense"}, 2, "unknown command"},
		{[]string{"--via", "smoke", "ip"}, 2, "--via"},
		{[]string{"delete", "--mine"}, 2, "--mine goes with"},
		{[]string{"run"}, 2, "--config"},
	}
	for _, tt := range tests {
		_, errs, code := r.run(tt.args...)
		if code != tt.code || !strings.Contains(errs, tt.says) {
			t.Errorf("portmap %v: exit %d, stderr %q; want exit %d saying %q", tt.args, code, errs, tt.code, tt.says)
		}
		if strings.Count(errs, "\n") > 1 {
			t.Errorf("portmap %v: more than one line on stderr: %q", tt.args, errs)
		}
	}
}

func TestRefusalNamesCodeAndHint(t *testing.T) {
	r := newRun(t)
	r.gw.FailNext("AddPortMapping", 718)
	_, errs, code := r.run("--via", "upnp", "add", "18080:8080")
	if code != 1 || !strings.Contains(errs, "718 ConflictInMappingEntry") || !strings.Contains(errs, "try another port or omit EXT") {
		t.Errorf("exit %d, stderr %q", code, errs)
	}
}

func TestNoGatewayExit3(t *testing.T) {
	r := newRun(t)
	r.gw.FailAlways("*", portmaptest.Drop)
	_, errs, code := r.run("--timeout", "500ms", "ip")
	if code != 3 || !strings.HasPrefix(errs, "portmap: no gateway answered") {
		t.Errorf("exit %d, stderr %q", code, errs)
	}
}

func TestSimulate(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	ctx, cancel := context.WithCancel(t.Context())
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		var errb bytes.Buffer
		done <- run(ctx, []string{"simulate", "--json"}, pw, &errb)
		pw.Close()
	}()
	var out struct {
		Gateway string `json:"gateway"`
	}
	if err := json.NewDecoder(pr).Decode(&out); err != nil {
		cancel()
		t.Fatalf("simulate --json: %v", err)
	}
	go io.Copy(io.Discard, pr)
	// The printed value works as --gateway.
	var stdout, stderr bytes.Buffer
	state := filepath.Join(t.TempDir(), "m.json")
	if code := run(t.Context(), []string{"--gateway", out.Gateway, "--state", state, "--json", "ip"}, &stdout, &stderr); code != 0 {
		t.Errorf("ip against simulate: exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), portmaptest.DefaultExternalIP.String()) {
		t.Errorf("ip: %s", stdout.String())
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("simulate exited %d after its context ended", code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("simulate did not stop")
	}
}

func TestListPrefersUPnP(t *testing.T) {
	// auto would pick PCP, which cannot list: list asks UPnP first and shows
	// the gateway's whole table, whoever made the mappings.
	r := newRun(t)
	if _, errs, code := r.run("--via", "natpmp", "add", "7100"); code != 0 {
		t.Fatal(errs)
	}
	if err := r.gw.AddMapping(portmaptest.Mapping{Protocol: portmaptest.UPnP, Transport: "UDP", ExternalPort: 7200, InternalAddr: netip.MustParseAddr("127.0.0.9"), InternalPort: 7200, Enabled: true}); err != nil {
		t.Fatal(err)
	}
	out, errs, code := r.run("--json", "list")
	var list []mappingJSON
	if code != 0 || json.Unmarshal([]byte(out), &list) != nil || len(list) != 2 {
		t.Errorf("list: exit %d, %s %s", code, out, errs)
	}
}
