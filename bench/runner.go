//go:build linux

package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"time"
)

// trial is one command measured in an alternating loop.
type trial struct {
	s    *series
	runs int
	// cmd builds the command of run i (0-based among this trial's runs).
	cmd func(ctx context.Context, i int) *exec.Cmd
	// check validates the output of a successful run (optional).
	check func(out string) error
	// inner, if set, takes the time from the output (a child that timed
	// one operation itself) instead of around the exec.
	inner func(out string) (time.Duration, error)
	// cleanup undoes run i, untimed (optional).
	cleanup func(ctx context.Context, i int) error
	// timeout bounds one run (default 30 s).
	timeout time.Duration

	done         int
	cleanupFails int
}

// alternate runs the trials interleaved: round r runs every trial that has a
// run in that round, starting at a rotating position so that no tool always
// runs right after the same other tool. A trial with fewer runs than the
// number of rounds runs in evenly spaced rounds.
func (b *bench) alternate(ctx context.Context, trials []*trial) {
	rounds := 0
	for _, t := range trials {
		rounds = max(rounds, t.runs)
	}
	for r := range rounds {
		for k := range trials {
			if ctx.Err() != nil {
				return
			}
			t := trials[(k+r)%len(trials)]
			// Evenly spaced: run in round r when r*runs/rounds steps up.
			if t.runs <= 0 || (r*t.runs)%rounds >= t.runs {
				continue
			}
			b.once(ctx, t)
		}
	}
}

// once runs one trial once.
func (b *bench) once(ctx context.Context, t *trial) {
	i := t.done
	t.done++
	timeout := t.timeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	mark := b.gatewayLogMark()
	s, out, err := runTimed(t.cmd(cctx, i))
	cancel()
	if reqs := gatewayRequests(mark); err == nil && reqs != "" {
		t.s.requests = reqs
	}
	if err == nil && t.check != nil {
		err = t.check(out)
	}
	if err == nil && t.inner != nil {
		s.wall, err = t.inner(out)
	}
	if err != nil {
		t.s.fail(err)
		b.progress("%s run %d: %v", t.s.name, i, err)
	} else {
		t.s.add(s)
	}
	if t.cleanup != nil {
		cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		if err := t.cleanup(cctx, i); err != nil {
			t.cleanupFails++
			b.progress("%s cleanup %d: %v", t.s.name, i, err)
		}
		cancel()
	}
}

// lan returns a command running in the LAN namespace with extra environment.
func (b *bench) lan(ctx context.Context, env []string, name string, args ...string) *exec.Cmd {
	cmd := b.tb.LANCmd(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.WaitDelay = time.Second
	return cmd
}

// pmEnv is the environment of one portmap "installation": its UPnP
// control-URL cache and its state file.
type pmEnv struct{ cache, state string }

func (e pmEnv) vars() []string {
	return []string{"XDG_CACHE_HOME=" + e.cache, "XDG_STATE_HOME=" + e.state}
}

// newPMEnv makes an empty cache and state: a first run of portmap.
func (b *bench) newPMEnv(name string) pmEnv {
	return pmEnv{cache: b.dir(name + "-cache"), state: b.dir(name + "-state")}
}

// pm returns "portmap --gateway GW ARGS..." in the LAN namespace.
func (b *bench) pm(ctx context.Context, e pmEnv, args ...string) *exec.Cmd {
	return b.lan(ctx, e.vars(), b.portmap, append([]string{"--gateway", b.tb.GatewayLAN.String()}, args...)...)
}

// pmNoGW returns "portmap ARGS..." without --gateway: the default route's
// gateway is found as a user's first run would.
func (b *bench) pmNoGW(ctx context.Context, e pmEnv, args ...string) *exec.Cmd {
	return b.lan(ctx, e.vars(), b.portmap, args...)
}

// descURL is the gateway's device description URL (what upnpc -u takes).
func (b *bench) descURL() string {
	return fmt.Sprintf("http://%s:%d/rootDesc.xml", b.tb.GatewayLAN, b.tb.HTTPPort)
}

func itoa(i int) string { return strconv.Itoa(i) }
