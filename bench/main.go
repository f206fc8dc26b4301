//go:build linux

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/portmap-dev/portmap/internal/testbed"
)

// config holds the command-line flags.
type config struct {
	runs          int           // runs of each fast command
	slowRuns      int           // runs of each upnpc command that does SSDP (2 s each)
	listSlowRuns  int           // runs of "upnpc -l" per table size (O(n^2) on miniupnpd)
	listRuns      int           // runs of the other list commands
	parts         string        // comma-separated parts to run
	keeperSizes   string        // comma-separated mapping counts
	keeperVia     string        // comma-separated protocols for the keeper
	keeperTime    time.Duration // how long each keeper runs after its adds
	keeperLife    time.Duration // lifetime asked for by the kept mappings
	microTime     string        // -benchtime of the micro-benchmarks
	waitQuiet     time.Duration // wait up to this long for load < quietLoad
	quietLoad     float64
	out           string        // also write the report here
	portmapBin    string        // a prebuilt portmap binary
	hold          time.Duration // only bring up the testbed and keep it this long
	child         string        // internal: run as a child measurement (rtt, keeper)
	childArgs     childConfig
	listUpnpcHuge bool // also run "upnpc -L" with 200 mappings (may kill miniupnpd)
}

func main() {
	var c config
	flag.IntVar(&c.runs, "runs", 15, "runs of each fast command (portmap, natpmpc, upnpc -u)")
	flag.IntVar(&c.slowRuns, "slow-runs", 5, "runs of each command that waits for SSDP (upnpc -a, upnpc -l with 0 entries)")
	flag.IntVar(&c.listSlowRuns, "list-slow-runs", 3, `runs of "upnpc -l" for each table size (about 20 s each with 100 entries)`)
	flag.IntVar(&c.listRuns, "list-runs", 9, "runs of portmap list and the other list commands per table size (each costs seconds on a full table)")
	flag.StringVar(&c.parts, "parts", "floor,add,list,keeper,micro", "parts to run, comma-separated")
	flag.StringVar(&c.keeperSizes, "keeper-sizes", "1,100,1000", "numbers of kept mappings")
	flag.StringVar(&c.keeperVia, "keeper-via", "pcp,natpmp,upnp", "protocols the keeper is measured with (each against the fake gateway)")
	flag.DurationVar(&c.keeperTime, "keeper-time", 30*time.Second, "how long each keeper runs after its mappings are made")
	flag.DurationVar(&c.keeperLife, "keeper-lifetime", 10*time.Second, "lifetime of the kept mappings (renewal at about half)")
	flag.StringVar(&c.microTime, "benchtime", "300ms", "-benchtime of the codec micro-benchmarks")
	flag.DurationVar(&c.waitQuiet, "wait-quiet", 0, "first wait up to this long for the 1-minute load average to drop below -quiet-load")
	flag.Float64Var(&c.quietLoad, "quiet-load", 2, "load average considered quiet")
	flag.StringVar(&c.out, "o", "", "also write the markdown report to this file")
	flag.StringVar(&c.portmapBin, "portmap", "", "portmap binary to measure (default: go build ./cmd/portmap)")
	flag.BoolVar(&c.listUpnpcHuge, "upnpc-L-200", true, `run "upnpc -L" with 200 mappings last (miniupnpd 2.3.1 may crash; the gateway is restarted)`)
	flag.DurationVar(&c.hold, "hold", 0, "only bring up the testbed, print how to use it, and keep it this long (for exploring by hand)")
	flag.StringVar(&c.child, "child", "", "internal: child measurement mode")
	c.childArgs.register(flag.CommandLine)
	flag.Parse()

	if c.child != "" {
		if err := runChild(c.child, c.childArgs); err != nil {
			fmt.Fprintln(os.Stderr, "bench child:", err)
			os.Exit(1)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := runAll(ctx, c); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// bench is one benchmark run: the testbed, the binaries and the results.
type bench struct {
	cfg     config
	tb      *testbed.Testbed
	self    string // this program, re-executed for child measurements
	portmap string
	tmp     string
	log     io.Writer // progress on stderr
	rep     *report
	seq     int // unique directory names
}

func runAll(ctx context.Context, c config) error {
	if os.Geteuid() != 0 {
		return errors.New("needs root (network namespaces): sudo go run ./bench")
	}
	parts := map[string]bool{}
	for p := range strings.SplitSeq(c.parts, ",") {
		parts[strings.TrimSpace(p)] = true
	}
	b := &bench{cfg: c, log: os.Stderr, rep: newReport()}
	var err error
	if b.self, err = os.Executable(); err != nil {
		return err
	}
	if b.tmp, err = os.MkdirTemp("", "portmap-bench-"); err != nil {
		return err
	}
	defer os.RemoveAll(b.tmp)
	if c.hold > 0 {
		c.portmapBin = "" // always the module's
	}

	b.waitQuiet(ctx)
	b.rep.machine = machineInfo()
	b.rep.loadStart = loadAvg()
	b.rep.command = "sudo go run ./bench " + strings.Join(os.Args[1:], " ")

	needTestbed := parts["floor"] || parts["add"] || parts["list"] || c.hold > 0
	if needTestbed || parts["keeper"] {
		if err := b.buildPortmap(ctx); err != nil {
			return err
		}
	}
	if needTestbed {
		b.progress("bringing up the testbed")
		tb, err := testbed.Up(ctx, testbed.Options{})
		if err != nil {
			return err
		}
		defer tb.Close()
		b.tb = tb
		b.rep.versions = toolVersions(ctx)
		if c.hold > 0 {
			fmt.Printf("testbed up: ip netns exec %s <cmd>  (portmap: %s --gateway %s; UPnP %s)\n", tb.LANNamespace(), b.portmap, tb.GatewayLAN, b.descURL())
			select {
			case <-ctx.Done():
			case <-time.After(c.hold):
			}
			return nil
		}
	}
	steps := []struct {
		name string
		fn   func(context.Context) error
	}{
		{"floor", b.floor},
		{"add", b.addScenarios},
		{"list", b.listScenarios},
		{"keeper", b.keeperScenarios},
		{"micro", b.micro},
	}
	for _, s := range steps {
		if !parts[s.name] {
			continue
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		b.progress("part %s", s.name)
		if err := s.fn(ctx); err != nil {
			b.rep.errors = append(b.rep.errors, fmt.Sprintf("part %s: %v", s.name, err))
			b.progress("part %s failed: %v", s.name, err)
		}
	}
	b.rep.loadEnd = loadAvg()
	text := b.rep.markdown()
	fmt.Print(text)
	if c.out != "" {
		if err := os.WriteFile(c.out, []byte(text), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func (b *bench) progress(format string, args ...any) {
	fmt.Fprintf(b.log, "%s bench: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// buildPortmap builds the CLI from the module this program is part of.
func (b *bench) buildPortmap(ctx context.Context) error {
	if b.cfg.portmapBin != "" {
		b.portmap = b.cfg.portmapBin
		return nil
	}
	root, err := moduleRoot(ctx)
	if err != nil {
		return err
	}
	b.portmap = filepath.Join(b.tmp, "portmap")
	b.progress("building %s", b.portmap)
	cmd := exec.CommandContext(ctx, "go", "build", "-o", b.portmap, "./cmd/portmap")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/portmap: %w: %s", err, out)
	}
	return nil
}

// moduleRoot is the directory of go.mod.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("run from inside the portmap module (go run ./bench)")
	}
	return filepath.Dir(gomod), nil
}

// dir makes a new empty directory under the run's temporary directory.
func (b *bench) dir(name string) string {
	b.seq++
	d := filepath.Join(b.tmp, fmt.Sprintf("%s-%d", name, b.seq))
	if err := os.MkdirAll(d, 0o755); err != nil {
		panic(err)
	}
	return d
}

// waitQuiet waits, at most cfg.waitQuiet, for the load average to drop.
func (b *bench) waitQuiet(ctx context.Context) {
	if b.cfg.waitQuiet <= 0 {
		return
	}
	deadline := time.Now().Add(b.cfg.waitQuiet)
	for {
		l := loadAvg()
		if l.one < b.cfg.quietLoad || time.Now().After(deadline) {
			b.rep.quietWait = fmt.Sprintf("waited for load < %.1f: load %.2f at start", b.cfg.quietLoad, l.one)
			return
		}
		b.progress("load %.2f >= %.1f, waiting (until %s)", l.one, b.cfg.quietLoad, deadline.Format("15:04:05"))
		select {
		case <-ctx.Done():
			return
		case <-time.After(20 * time.Second):
		}
	}
}
