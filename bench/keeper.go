//go:build linux

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/portmap-dev/portmap/portmaptest"
)

// keeperRun is one keeper measurement.
type keeperRun struct {
	res  keeperResult
	kind string // "library" or "portmap run"
	err  string
	// left is how many mappings the fake gateway still held after the
	// keeper stopped (it should delete them all).
	left int
}

// keeperScenarios measures a keeper of 1, 100 and 1000 mappings against
// the fake gateway (package portmaptest) on loopback, one child process per
// measurement so that its resident set is clean.
func (b *bench) keeperScenarios(ctx context.Context) error {
	sizes, err := intList(b.cfg.keeperSizes)
	if err != nil {
		return err
	}
	for via := range strings.SplitSeq(b.cfg.keeperVia, ",") {
		via = strings.TrimSpace(via)
		for _, n := range sizes {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			b.progress("keeper: %d mappings via %s (library)", n, via)
			b.rep.keeper = append(b.rep.keeper, b.keeperChild(ctx, via, n))
		}
	}
	// The daemon users run: "portmap run --config" with the largest size.
	if len(sizes) > 0 {
		n := sizes[len(sizes)-1]
		b.progress("keeper: %d mappings, portmap run (auto)", n)
		b.rep.keeper = append(b.rep.keeper, b.keeperDaemon(ctx, n))
	}
	return nil
}

// startFakeGateway starts a loopback fake gateway that grants short PCP
// lifetimes (miniupnpd's 120 s minimum would hide the renewals).
func startFakeGateway(ctx context.Context) (*portmaptest.Gateway, error) {
	return portmaptest.Start(ctx, portmaptest.Config{
		PCPMinLifetime: time.Second,
		MaxMappings:    4096,
	})
}

func (b *bench) keeperChild(ctx context.Context, via string, n int) keeperRun {
	kr := keeperRun{kind: "library"}
	kr.res.Mappings, kr.res.Protocol = n, via
	gctx, cancel := context.WithCancel(ctx)
	defer cancel()
	gw, err := startFakeGateway(gctx)
	if err != nil {
		kr.err = err.Error()
		return kr
	}
	defer gw.Close()
	cctx, ccancel := context.WithTimeout(ctx, b.cfg.keeperTime+4*time.Minute)
	defer ccancel()
	cmd := exec.CommandContext(cctx, b.self, "-child", "keeper",
		"-child-gateway", gw.Addr().String(),
		"-child-via", via,
		"-child-n", strconv.Itoa(n),
		"-child-lifetime", b.cfg.keeperLife.String(),
		"-child-duration", b.cfg.keeperTime.String())
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		kr.err = err.Error()
		return kr
	}
	if err := json.Unmarshal(out, &kr.res); err != nil {
		kr.err = err.Error()
	}
	kr.left = len(gw.Mappings())
	return kr
}

// keeperDaemon measures "portmap run --config" keeping n mappings: the
// command users run as a daemon, with its logging and status.
func (b *bench) keeperDaemon(ctx context.Context, n int) keeperRun {
	kr := keeperRun{kind: "portmap run"}
	kr.res.Mappings, kr.res.Protocol = n, "auto"
	gctx, cancel := context.WithCancel(ctx)
	defer cancel()
	gw, err := startFakeGateway(gctx)
	if err != nil {
		kr.err = err.Error()
		return kr
	}
	defer gw.Close()
	var conf strings.Builder
	fmt.Fprintf(&conf, "gateway = %q\nvia = \"auto\"\n", gw.Addr())
	for i := range n {
		fmt.Fprintf(&conf, "\n[[mapping]]\nport = \"%d\"\nlifetime = %q\n", 20000+i, b.cfg.keeperLife.String())
	}
	dir := b.dir("daemon")
	path := filepath.Join(dir, "run.toml")
	if err := os.WriteFile(path, []byte(conf.String()), 0o644); err != nil {
		kr.err = err.Error()
		return kr
	}
	cctx, ccancel := context.WithTimeout(ctx, b.cfg.keeperTime+4*time.Minute)
	defer ccancel()
	cmd := exec.CommandContext(cctx, b.portmap, "run", "--config", path)
	cmd.Env = append(os.Environ(), "XDG_CACHE_HOME="+dir, "XDG_STATE_HOME="+dir)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	var logBuf strings.Builder
	cmd.Stderr = &logBuf
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		kr.err = err.Error()
		return kr
	}
	pid := strconv.Itoa(cmd.Process.Pid)
	kr.res.RSSStart = procStatusOf(pid, "VmRSS")
	// Wait until the gateway holds every mapping.
	lastLog := t0
	for len(gw.Mappings()) < n && time.Since(t0) < 2*time.Minute && cctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
		if time.Since(lastLog) > 10*time.Second {
			lastLog = time.Now()
			b.progress("keeper: portmap run: %d of %d mappings made after %v, RSS %d KiB", len(gw.Mappings()), n, time.Since(t0).Round(time.Second), procStatusOf(pid, "VmRSS"))
		}
	}
	kr.res.AddTime = time.Since(t0)
	if made := len(gw.Mappings()); made < n {
		kr.err = fmt.Sprintf("only %d of %d mappings made after %v", made, n, kr.res.AddTime.Round(time.Second))
	}
	kr.res.CPUAdd = procCPU(pid)
	kr.res.RSSAfter = procStatusOf(pid, "VmRSS")
	t1, cpu1 := time.Now(), procCPU(pid)
	select {
	case <-time.After(b.cfg.keeperTime):
	case <-cctx.Done():
	}
	kr.res.Window, kr.res.CPUWindow = time.Since(t1), procCPU(pid)-cpu1
	kr.res.Renewed = int64(countMaps(gw, t1, time.Now()))
	kr.res.RSSEnd = procStatusOf(pid, "VmRSS")
	kr.res.RSSPeak = procStatusOf(pid, "VmHWM")
	kr.res.Remaining = len(gw.Mappings())
	t2 := time.Now()
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		kr.err = strings.TrimPrefix(fmt.Sprintf("%s; portmap run did not stop by itself (%v)", kr.err, err), "; ")
	}
	kr.res.StopTime = time.Since(t2)
	kr.left = len(gw.Mappings())
	return kr
}

// countMaps counts the mapping requests the gateway received between from
// and to: the renewals (its request log keeps the last 10000).
func countMaps(gw *portmaptest.Gateway, from, to time.Time) int {
	n := 0
	for _, r := range gw.Requests() {
		switch r.Action {
		case "pcp:map", "natpmp:map", "AddPortMapping", "AddAnyPortMapping":
			if r.Time.After(from) && !r.Time.After(to) {
				n++
			}
		}
	}
	return n
}

// procCPU is the user+system time of a running process (/proc/PID/stat).
func procCPU(pid string) time.Duration {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	// After the command name: state is field 3, utime 14, stime 15.
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	const hz = 100 // USER_HZ on Linux
	return time.Duration(ut+st) * time.Second / hz
}

func intList(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return nil, fmt.Errorf("%q: %w", s, err)
		}
		out = append(out, n)
	}
	return out, nil
}
