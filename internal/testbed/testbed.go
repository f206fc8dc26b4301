//go:build linux

package testbed

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Testbed is one running set of namespaces with miniupnpd on the gateway.
// Its exported fields describe the network; they are also what [Main] hands
// to the re-executed test binary, so they must stay JSON-serialisable.
type Testbed struct {
	// Name is the common prefix of the namespace names.
	Name string `json:"name"`
	// Dir holds miniupnpd's configuration, pid file and logs.
	Dir string `json:"dir"`

	GatewayLAN  netip.Addr `json:"gateway_lan"`  // gateway's LAN address, where miniupnpd listens
	Host        netip.Addr `json:"host"`         // the LAN host's address
	WAN         netip.Addr `json:"wan"`          // gateway's external (public-looking) address
	Internet    netip.Addr `json:"internet"`     // a host on the internet side
	GatewayLAN6 netip.Addr `json:"gateway_lan6"` // gateway's IPv6 LAN address (ULA)
	Host6       netip.Addr `json:"host6"`        // the LAN host's IPv6 address (ULA)
	WAN6        netip.Addr `json:"wan6"`         // gateway's IPv6 WAN address
	Internet6   netip.Addr `json:"internet6"`    // the internet host's IPv6 address

	// HTTPPort is miniupnpd's UPnP HTTP port; RestartGateway can change it.
	HTTPPort int `json:"http_port"`
	// LANInterface is the LAN host's interface toward the gateway.
	LANInterface string `json:"lan_interface"`
	// Starts counts how often miniupnpd has been started in this testbed.
	Starts int `json:"starts"`
	// UUID is the gateway's UPnP device UUID; like a real router's, it
	// stays the same across reboots.
	UUID string `json:"uuid"`
}

// Options tune [Up].
type Options struct {
	// HTTPPort is miniupnpd's UPnP HTTP port (default 5000).
	HTTPPort int
	// Dir is where configuration and logs go (default: a new temporary directory).
	Dir string
}

// namePrefix starts every namespace this package makes; the digits after it
// are the pid of the process that made the testbed.
const namePrefix = "pmtb"

// Namespace names.
func (tb *Testbed) gwNS() string   { return tb.Name + "-gw" }
func (tb *Testbed) lanNS() string  { return tb.Name + "-lan" }
func (tb *Testbed) inetNS() string { return tb.Name + "-inet" }

// LANNamespace is the name of the LAN host's namespace, for tools that run
// commands there with "ip netns exec".
func (tb *Testbed) LANNamespace() string { return tb.lanNS() }

// GatewayNamespace is the name of the gateway's namespace.
func (tb *Testbed) GatewayNamespace() string { return tb.gwNS() }

// InternetNamespace is the name of the internet host's namespace.
func (tb *Testbed) InternetNamespace() string { return tb.inetNS() }

// Prerequisites reports what is missing to build a testbed on this machine,
// or nil when everything is there.
func Prerequisites() error {
	if os.Geteuid() != 0 {
		return errors.New("testbed: needs root (network namespaces); run ./scripts/test as root")
	}
	var missing []string
	for _, tool := range []string{"ip", "nft", "miniupnpd"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("testbed: %s not installed; run ./scripts/test (it installs iproute2, nftables and miniupnpd-nftables)", strings.Join(missing, ", "))
	}
	return nil
}

// Up builds a new testbed and starts miniupnpd in it. The caller must Close
// it. Up removes leftovers of earlier runs whose process has died.
func Up(ctx context.Context, opts Options) (tb *Testbed, err error) {
	if err := Prerequisites(); err != nil {
		return nil, err
	}
	SweepStale(ctx)
	tb = &Testbed{
		Name:         namePrefix + strconv.Itoa(os.Getpid()),
		Dir:          opts.Dir,
		GatewayLAN:   gatewayLAN,
		Host:         host,
		WAN:          wan,
		Internet:     internet,
		GatewayLAN6:  gatewayLAN6,
		Host6:        host6,
		WAN6:         wan6,
		Internet6:    internet6,
		HTTPPort:     opts.HTTPPort,
		LANInterface: hostIf,
		UUID:         newUUID(),
	}
	if tb.HTTPPort == 0 {
		tb.HTTPPort = defaultHTTPPort
	}
	if tb.Dir == "" {
		if tb.Dir, err = os.MkdirTemp("", tb.Name+"-"); err != nil {
			return nil, fmt.Errorf("testbed: %w", err)
		}
	}
	// A testbed of this very process (an earlier Up that was not closed) is
	// in the way of the names; remove it first.
	removeNamespaces(ctx, tb.Name)
	defer func() {
		if err != nil {
			tb.Close()
		}
	}()
	if err := tb.buildNetwork(ctx); err != nil {
		return nil, err
	}
	if err := tb.writeRuleset(ctx); err != nil {
		return nil, err
	}
	if err := tb.startGateway(ctx); err != nil {
		return nil, err
	}
	return tb, nil
}

// buildNetwork creates the namespaces, links, addresses and routes.
func (tb *Testbed) buildNetwork(ctx context.Context) error {
	gw, lan, inet := tb.gwNS(), tb.lanNS(), tb.inetNS()
	p4 := func(a netip.Addr, bits int) string { return netip.PrefixFrom(a, bits).String() }
	steps := [][]string{
		{"netns", "add", gw},
		{"netns", "add", lan},
		{"netns", "add", inet},
		// Both ends of each veth are created directly inside their
		// namespaces, so nothing ever appears in the host's namespace.
		{"link", "add", "name", gwLANIf, "netns", gw, "type", "veth", "peer", "name", hostIf, "netns", lan},
		{"link", "add", "name", gwWANIf, "netns", gw, "type", "veth", "peer", "name", inetIf, "netns", inet},
		{"-n", gw, "addr", "add", p4(gatewayLAN, lanPrefixLen), "dev", gwLANIf},
		{"-n", gw, "addr", "add", p4(wan, wanPrefixLen), "dev", gwWANIf},
		{"-n", lan, "addr", "add", p4(host, lanPrefixLen), "dev", hostIf},
		{"-n", inet, "addr", "add", p4(internet, wanPrefixLen), "dev", inetIf},
		// nodad: the addresses are usable at once instead of after
		// duplicate address detection (about 2 s).
		{"-n", gw, "addr", "add", p4(gatewayLAN6, v6PrefixLen), "dev", gwLANIf, "nodad"},
		{"-n", gw, "addr", "add", p4(wan6, v6PrefixLen), "dev", gwWANIf, "nodad"},
		{"-n", lan, "addr", "add", p4(host6, v6PrefixLen), "dev", hostIf, "nodad"},
		{"-n", inet, "addr", "add", p4(internet6, v6PrefixLen), "dev", inetIf, "nodad"},
	}
	for _, ns := range []string{gw, lan, inet} {
		steps = append(steps, []string{"-n", ns, "link", "set", "lo", "up"})
	}
	steps = append(steps,
		[]string{"-n", gw, "link", "set", gwLANIf, "up"},
		[]string{"-n", gw, "link", "set", gwWANIf, "up"},
		[]string{"-n", lan, "link", "set", hostIf, "up"},
		[]string{"-n", inet, "link", "set", inetIf, "up"},
		[]string{"-n", lan, "route", "add", "default", "via", gatewayLAN.String()},
		[]string{"-n", lan, "-6", "route", "add", "default", "via", gatewayLAN6.String()},
		[]string{"-n", inet, "route", "add", "default", "via", wan.String()},
		[]string{"-n", inet, "-6", "route", "add", "default", "via", wan6.String()},
	)
	for _, args := range steps {
		if err := run(ctx, "ip", args...); err != nil {
			return err
		}
	}
	return run(ctx, "ip", "netns", "exec", gw, "sysctl", "-q", "-w",
		"net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1")
}

// Close stops miniupnpd and removes the namespaces (and with them the
// links and rules). It is safe to call more than once.
func (tb *Testbed) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := removeNamespaces(ctx, tb.Name)
	if tb.Dir != "" && strings.HasPrefix(filepath.Base(tb.Dir), namePrefix) {
		err = errors.Join(err, os.RemoveAll(tb.Dir))
	}
	return err
}

// removeNamespaces kills every process in the testbed's namespaces and
// deletes them. It reports the namespaces still there afterwards.
func removeNamespaces(ctx context.Context, name string) error {
	var errs []error
	for _, suffix := range []string{"-gw", "-lan", "-inet"} {
		ns := name + suffix
		if out, err := exec.CommandContext(ctx, "ip", "netns", "pids", ns).Output(); err == nil {
			for _, f := range strings.Fields(string(out)) {
				if pid, err := strconv.Atoi(f); err == nil && pid != os.Getpid() {
					if p, err := os.FindProcess(pid); err == nil {
						p.Kill()
					}
				}
			}
		}
		exec.CommandContext(ctx, "ip", "netns", "del", ns).Run()
		if _, err := os.Stat(filepath.Join("/run/netns", ns)); err == nil {
			errs = append(errs, fmt.Errorf("testbed: namespace %s could not be removed (ip netns del %s)", ns, ns))
		}
	}
	return errors.Join(errs...)
}

// SweepStale removes testbeds left by processes that no longer run (a test
// binary killed before it could clean up), and their gateway daemons even
// when the namespaces are already gone.
func SweepStale(ctx context.Context) {
	killStaleDaemons()
	out, err := exec.CommandContext(ctx, "ip", "netns", "list").Output()
	if err != nil {
		return
	}
	seen := map[string]bool{}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || !strings.HasPrefix(f[0], namePrefix) {
			continue
		}
		name, _, ok := strings.Cut(f[0], "-")
		if !ok || seen[name] {
			continue
		}
		seen[name] = true
		pid, err := strconv.Atoi(strings.TrimPrefix(name, namePrefix))
		if err != nil {
			continue
		}
		if fi, err := os.Stat(filepath.Join("/run/netns", f[0])); err == nil && ownerAlive(pid, fi.ModTime()) {
			continue
		}
		removeNamespaces(ctx, name)
	}
}

// processAlive reports whether a process with this pid exists.
func processAlive(pid int) bool {
	_, err := os.Stat("/proc/" + strconv.Itoa(pid))
	return err == nil
}

// ownerAlive reports whether the process that made something at created
// still runs: a process with its pid exists and started before created
// (a later one reuses the pid of a crashed run).
func ownerAlive(pid int, created time.Time) bool {
	if !processAlive(pid) {
		return false
	}
	start, ok := processStart(pid)
	return !ok || !start.After(created.Add(time.Second))
}

// processStart returns when a process started, from /proc/PID/stat
// (field 22, clock ticks since boot; the kernel's USER_HZ is 100 on every
// Linux architecture Go supports) and the boot time in /proc/stat.
func processStart(pid int) (time.Time, bool) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return time.Time{}, false
	}
	// The command name (field 2) may hold spaces; fields are counted after
	// its closing parenthesis, where field 3 starts.
	i := strings.LastIndexByte(string(stat), ')')
	fields := strings.Fields(string(stat[i+1:]))
	if i < 0 || len(fields) < 20 {
		return time.Time{}, false
	}
	ticks, err := strconv.ParseInt(fields[19], 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	all, err := os.ReadFile("/proc/stat")
	if err != nil {
		return time.Time{}, false
	}
	for line := range strings.SplitSeq(string(all), "\n") {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			boot, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return time.Time{}, false
			}
			return time.Unix(boot, 0).Add(time.Duration(ticks) * 10 * time.Millisecond), true
		}
	}
	return time.Time{}, false
}

// killStaleDaemons kills miniupnpd processes started for a testbed whose
// creating process is gone: their command line names the testbed's
// directory, /tmp/pmtb<pid>-....
func killStaleDaemons() {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil || !strings.Contains(string(b), "miniupnpd") {
			continue
		}
		args := strings.Split(string(b), "\x00")
		for _, a := range args {
			i := strings.Index(a, "/"+namePrefix)
			if i < 0 {
				continue
			}
			digits := a[i+1+len(namePrefix):]
			end := strings.IndexFunc(digits, func(r rune) bool { return r < '0' || r > '9' })
			if end <= 0 {
				continue
			}
			owner, err := strconv.Atoi(digits[:end])
			pid, perr := strconv.Atoi(filepath.Base(filepath.Dir(p)))
			if err != nil || perr != nil {
				continue
			}
			started, ok := processStart(pid)
			if ok && ownerAlive(owner, started) || !ok && processAlive(owner) {
				continue
			}
			if proc, err := os.FindProcess(pid); err == nil {
				proc.Kill()
			}
			break
		}
	}
}
