//go:build linux

package e2e

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portmap-dev/portmap/internal/testbed"
)

// "portmap run --config" keeps the file's mappings, serves its status, and
// deletes them on SIGTERM.
func TestRunDaemon(t *testing.T) {
	tb := testbed.Get(t)
	c := newCLI(t)
	conf := filepath.Join(t.TempDir(), "portmap.toml")
	os.WriteFile(conf, []byte(`
via = "auto"
status = "127.0.0.1:17654"

[[mapping]]
port = "21501:21500"
lifetime = "1h"
description = "daemon tcp"

[[mapping]]
port = "21502/udp"
`), 0o600)
	cmd := exec.Command(c.bin, "--state", c.state, "--gateway", tb.GatewayLAN.String(), "run", "--config", conf)
	cmd.Env = c.env
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	rules := []string{"dport 21501 dnat ip to 10.77.0.2:21500", "dport 21502 dnat ip to 10.77.0.2:21502"}
	deadline := time.Now().Add(10 * time.Second)
	for {
		rs := tb.Ruleset(t)
		if strings.Contains(rs, rules[0]) && strings.Contains(rs, rules[1]) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the daemon made no mappings in 10 s:\n%s", stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := tb.CheckTCP(t, 21501, 21500); err != nil {
		t.Error(err)
	}
	resp, err := http.Get("http://127.0.0.1:17654/status")
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Protocol string `json:"protocol"`
		Mappings []struct {
			ExternalPort int `json:"external_port"`
		} `json:"mappings"`
	}
	err = json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	if err != nil || st.Protocol != "pcp" || len(st.Mappings) != 2 {
		t.Errorf("status: %+v, %v", st, err)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("daemon after SIGTERM: %v\n%s", err, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the daemon did not stop within 10 s of SIGTERM")
	}
	rs := tb.Ruleset(t)
	for _, r := range rules {
		if strings.Contains(rs, r) {
			t.Errorf("left behind after SIGTERM: %s", r)
		}
	}
	if !strings.Contains(stderr.String(), "msg=created") || !strings.Contains(stderr.String(), "msg=deleted") {
		t.Errorf("the log does not show the mappings' life:\n%s", stderr.String())
	}
}
