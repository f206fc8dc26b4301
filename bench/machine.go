//go:build linux

package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strings"
)

// load is the load average from /proc/loadavg.
type load struct{ one, five, fifteen float64 }

func (l load) String() string { return fmt.Sprintf("%.2f %.2f %.2f", l.one, l.five, l.fifteen) }

func loadAvg() load {
	var l load
	b, err := os.ReadFile("/proc/loadavg")
	if err == nil {
		fmt.Sscanf(string(b), "%f %f %f", &l.one, &l.five, &l.fifteen)
	}
	return l
}

// machineInfo describes the machine in one line each.
func machineInfo() []string {
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	kernel := "unknown"
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = strings.TrimSpace(string(b))
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		if m := regexp.MustCompile(`MemTotal:\s+(\d+) kB`).FindStringSubmatch(string(b)); m != nil {
			var kb int64
			fmt.Sscan(m[1], &kb)
			mem = fmt.Sprintf(", %.1f GiB RAM", float64(kb)/(1<<20))
		}
	}
	distro := ""
	if b, err := os.ReadFile("/etc/os-release"); err == nil {
		if m := regexp.MustCompile(`(?m)^PRETTY_NAME="?([^"\n]*)`).FindStringSubmatch(string(b)); m != nil {
			distro = m[1]
		}
	}
	return []string{
		fmt.Sprintf("%d CPUs (nproc), %s%s", runtime.NumCPU(), cpu, mem),
		fmt.Sprintf("Linux %s %s, %s", kernel, runtime.GOARCH, distro),
		fmt.Sprintf("Go %s", runtime.Version()),
	}
}

// toolVersions reports the versions of the peers and of the gateway.
func toolVersions(ctx context.Context) []string {
	var vs []string
	for _, pkg := range []string{"miniupnpd-nftables", "miniupnpc", "natpmpc", "hyperfine"} {
		out, err := exec.CommandContext(ctx, "dpkg-query", "-W", "-f=${Version}", pkg).Output()
		if err == nil && len(out) > 0 {
			vs = append(vs, fmt.Sprintf("%s %s", pkg, out))
		}
	}
	return vs
}
