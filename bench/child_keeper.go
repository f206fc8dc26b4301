//go:build linux

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/portmap-dev/portmap"
)

// keeperResult is what the keeper child measured.
type keeperResult struct {
	Mappings   int           `json:"mappings"`
	Protocol   string        `json:"protocol"`
	AddTime    time.Duration `json:"add_time"`    // making the n mappings with Keeper.Add
	Window     time.Duration `json:"window"`      // the measured steady state (Run)
	RSSStart   int64         `json:"rss_start"`   // KiB, before Discover
	RSSAfter   int64         `json:"rss_after"`   // KiB, after the adds
	RSSEnd     int64         `json:"rss_end"`     // KiB, at the end of the window
	RSSPeak    int64         `json:"rss_peak"`    // KiB, VmHWM of the process
	HeapInuse  uint64        `json:"heap_inuse"`  // bytes, Go heap in use at the end
	Goroutines int           `json:"goroutines"`  // at the end of the window
	CPUAdd     time.Duration `json:"cpu_add"`     // user+sys during the adds
	CPUWindow  time.Duration `json:"cpu_window"`  // user+sys during the window
	Renewed    int64         `json:"renewed"`     // Renewed events in the window
	Failed     int64         `json:"failed"`      // Failed and Lost events
	StopTime   time.Duration `json:"stop_time"`   // deleting everything at the end
	Remaining  int           `json:"remaining"`   // mappings kept at the end
	AddErrors  int           `json:"add_errors"`  // Keeper.Add failures
	FirstError string        `json:"first_error"` // the first of them
}

// childKeeper keeps c.n mappings through the fake gateway at c.gateway for
// c.duration and reports memory and CPU. It runs in a process of its own so
// that the resident set is the keeper's alone (the gateway runs in the
// parent).
func childKeeper(c childConfig) error {
	gw, err := netip.ParseAddrPort(c.gateway)
	if err != nil {
		return err
	}
	proto, err := portmap.ParseProtocol(c.via)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.duration+3*time.Minute)
	defer cancel()
	res := keeperResult{Mappings: c.n, Protocol: c.via, RSSStart: procStatus("VmRSS")}
	opts := portmap.Options{Gateway: gw.Addr(), GatewayPort: gw.Port(), Protocols: []portmap.Protocol{proto}}
	cl, err := portmap.Discover(ctx, opts)
	if err != nil {
		return err
	}
	var renewed, failed atomic.Int64
	k := portmap.NewKeeper(cl, portmap.KeeperOptions{
		Discovery: opts,
		OnEvent: func(e portmap.Event) {
			switch e.Kind {
			case portmap.Renewed:
				renewed.Add(1)
			case portmap.Failed, portmap.Lost:
				failed.Add(1)
			}
		},
	})
	cpu0, t0 := cpuTime(), time.Now()
	for i := range c.n {
		port := uint16(20000 + i)
		_, err := k.Add(ctx, portmap.Request{
			InternalPort: port,
			ExternalPort: port,
			Lifetime:     c.lifetime,
			Description:  "bench keeper " + strconv.Itoa(i),
		})
		if err != nil {
			res.AddErrors++
			if res.FirstError == "" {
				res.FirstError = err.Error()
			}
		}
	}
	res.AddTime, res.CPUAdd = time.Since(t0), cpuTime()-cpu0
	res.RSSAfter = procStatus("VmRSS")

	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	renewed.Store(0)
	failed.Store(0)
	cpu1, t1 := cpuTime(), time.Now()
	go func() { done <- k.Run(rctx) }()
	select {
	case <-time.After(c.duration):
	case err := <-done:
		stop()
		return fmt.Errorf("keeper stopped early: %v", err)
	}
	res.Window, res.CPUWindow = time.Since(t1), cpuTime()-cpu1
	res.Renewed, res.Failed = renewed.Load(), failed.Load()
	res.RSSEnd = procStatus("VmRSS")
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	res.HeapInuse = ms.HeapInuse
	res.Goroutines = runtime.NumGoroutine()
	res.Remaining = len(k.Mappings())
	t2 := time.Now()
	stop()
	if err := <-done; err != nil {
		return fmt.Errorf("keeper: %v", err)
	}
	res.StopTime = time.Since(t2)
	res.RSSPeak = procStatus("VmHWM")
	cl.Close()
	return json.NewEncoder(os.Stdout).Encode(res)
}

// cpuTime is this process's user+system time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procStatus reads a "kB" field of /proc/self/status (VmRSS, VmHWM).
func procStatus(field string) int64 { return procStatusOf("self", field) }

// procStatusOf reads a "kB" field of /proc/PID/status.
func procStatusOf(pid, field string) int64 {
	f, err := os.Open("/proc/" + pid + "/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && k == field {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}
