//go:build linux

package main

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"time"
)

// microResult is one line of "go test -bench" output.
type microResult struct {
	pkg, name           string
	nsOp, bOp, allocsOp string
}

// microPackages hold the codec benchmarks (files *_bench_test.go).
var microPackages = []string{"./natpmp", "./pcp", "./upnp"}

// benchLine matches "BenchmarkX-2   1000   123.4 ns/op   48 B/op   2 allocs/op".
var benchLine = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+([\d.]+) ns/op(?:\s+[\d.]+ MB/s)?(?:\s+([\d.]+) B/op)?(?:\s+(\d+) allocs/op)?`)

// micro runs the codec micro-benchmarks with the Go benchmark harness.
func (b *bench) micro(ctx context.Context) error {
	root, err := moduleRoot(ctx)
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	args := append([]string{"test", "-run", "^$", "-bench", ".", "-benchmem", "-benchtime", b.cfg.microTime, "-count", "1"}, microPackages...)
	cmd := exec.CommandContext(cctx, "go", args...)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	b.rep.microCmd = "go " + strings.Join(args, " ")
	pkg := ""
	for line := range strings.SplitSeq(string(out), "\n") {
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = strings.TrimPrefix(p, "github.com/portmap-dev/portmap/")
			continue
		}
		m := benchLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		b.rep.micro = append(b.rep.micro, microResult{pkg: pkg, name: m[1], nsOp: m[2], bOp: m[3], allocsOp: m[4]})
	}
	if err != nil {
		return fmt.Errorf("go test -bench: %w: %s", err, lastLine(string(out)))
	}
	return nil
}
