//go:build linux

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// floorResult is the physical floor of a command on the testbed.
type floorResult struct {
	nsTrue  *series // ip netns exec LAN true
	version *series // ip netns exec LAN portmap version
	rtt     rttResult
}

// floor measures what no tool can go below: entering the namespace and
// starting a process, the portmap binary's own start-up, and one round trip
// to the gateway (UDP for NAT-PMP/PCP, TCP+HTTP for UPnP).
func (b *bench) floor(ctx context.Context) error {
	f := &floorResult{
		nsTrue:  &series{name: "ip netns exec LAN true"},
		version: &series{name: "portmap version"},
	}
	b.rep.floor = f
	e := b.newPMEnv("version")
	b.alternate(ctx, []*trial{
		{s: f.nsTrue, runs: b.cfg.runs, cmd: func(ctx context.Context, _ int) *exec.Cmd {
			return b.lan(ctx, nil, "true")
		}},
		{s: f.version, runs: b.cfg.runs, cmd: func(ctx context.Context, _ int) *exec.Cmd {
			return b.pmNoGW(ctx, e, "version")
		}, check: func(out string) error {
			if !strings.HasPrefix(out, "portmap ") {
				return fmt.Errorf("unexpected output %q", out)
			}
			return nil
		}},
	})
	// The round trips are measured in a child in the LAN namespace, with
	// the sockets of one process (no process start in the figures).
	cctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	out, err := run(b.lan(cctx, nil, b.self, "-child", "rtt",
		"-child-gateway", b.tb.GatewayLAN.String(),
		"-child-http-port", itoa(b.tb.HTTPPort),
		"-child-host", b.tb.Host.String(),
		"-child-n", itoa(max(b.cfg.runs*4, 20))))
	if err != nil {
		return err
	}
	return json.Unmarshal([]byte(out), &f.rtt)
}
