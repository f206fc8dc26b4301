//go:build linux

package testbed

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ruleset is the gateway's nftables configuration. miniupnpd 2.3.1 fills the
// three miniupnpd chains; they must be defined before the base chains jump
// to them. Debian's nft_init.sh cannot be used: it sources the iptables
// helper script and fails.
const ruleset = `table inet filter {
	chain miniupnpd {
	}
	chain prerouting_miniupnpd {
	}
	chain postrouting_miniupnpd {
	}
	chain forward {
		type filter hook forward priority 0; policy drop;
		ct state established,related accept
		iifname "` + gwLANIf + `" accept
		jump miniupnpd
	}
	chain prerouting {
		type nat hook prerouting priority -100; policy accept;
		jump prerouting_miniupnpd
	}
	chain postrouting {
		type nat hook postrouting priority 100; policy accept;
		jump postrouting_miniupnpd
	}
}
`

// miniupnpdChains are flushed on a simulated reboot.
var miniupnpdChains = []string{"miniupnpd", "prerouting_miniupnpd", "postrouting_miniupnpd"}

func (tb *Testbed) writeRuleset(ctx context.Context) error {
	path := filepath.Join(tb.Dir, "ruleset.nft")
	if err := os.WriteFile(path, []byte(ruleset), 0o644); err != nil {
		return fmt.Errorf("testbed: %w", err)
	}
	return run(ctx, "ip", "netns", "exec", tb.gwNS(), "nft", "-f", path)
}

// config renders miniupnpd.conf.
func (tb *Testbed) config(uuid string) string {
	lines := []string{
		"ext_ifname=" + gwWANIf,
		"ext_ifname6=" + gwWANIf,
		"listening_ip=" + gwLANIf,
		"http_port=" + strconv.Itoa(tb.HTTPPort),
		"enable_upnp=yes",
		"enable_natpmp=yes", // also enables PCP
		"ipv6_disable=no",
		"secure_mode=yes",
		"system_uptime=no",
		"uuid=" + uuid,
		// PCP lifetimes are clamped to min_lifetime (default 120 s); 2 s
		// lets the tests watch renewals under loss in seconds.
		"min_lifetime=2",
		"allow 1024-65535 10.77.0.0/24 1024-65535",
		"deny 0-65535 0.0.0.0/0 0-65535",
	}
	return strings.Join(lines, "\n") + "\n"
}

func (tb *Testbed) pidFile() string { return filepath.Join(tb.Dir, "miniupnpd.pid") }

// LogFile is the log of the current miniupnpd run.
func (tb *Testbed) LogFile() string {
	return filepath.Join(tb.Dir, fmt.Sprintf("miniupnpd-%d.log", tb.Starts))
}

// startGateway starts miniupnpd and waits until it serves.
func (tb *Testbed) startGateway(ctx context.Context) error {
	tb.Starts++
	conf := filepath.Join(tb.Dir, "miniupnpd.conf")
	if err := os.WriteFile(conf, []byte(tb.config(tb.UUID)), 0o644); err != nil {
		return fmt.Errorf("testbed: %w", err)
	}
	logf, err := os.Create(tb.LogFile())
	if err != nil {
		return fmt.Errorf("testbed: %w", err)
	}
	defer logf.Close()
	// Not CommandContext: the daemon outlives this call. Its own session
	// keeps a Ctrl-C in the terminal from killing it before Close does.
	cmd := exec.Command("ip", "netns", "exec", tb.gwNS(), "miniupnpd", "-d", "-f", conf, "-P", tb.pidFile())
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("testbed: starting miniupnpd: %w", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	return tb.waitReady(ctx, exited)
}

// waitReady waits until miniupnpd's log says it listens for NAT-PMP/PCP,
// the last thing it sets up, or fails after 10 s.
func (tb *Testbed) waitReady(ctx context.Context, exited <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		b, _ := os.ReadFile(tb.LogFile())
		if strings.Contains(string(b), "Listening for NAT-PMP/PCP traffic") {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("testbed: miniupnpd exited at start: %s", lastLines(string(b), 5))
		case <-ctx.Done():
			return fmt.Errorf("testbed: miniupnpd not ready: %w: %s", ctx.Err(), lastLines(string(b), 5))
		case <-tick.C:
		}
	}
}

// GatewayPID returns the pid of the running miniupnpd, or an error when it
// does not run (it crashed, or was stopped).
func (tb *Testbed) GatewayPID() (int, error) {
	b, err := os.ReadFile(tb.pidFile())
	if err != nil {
		return 0, fmt.Errorf("testbed: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, fmt.Errorf("testbed: pid file: %w", err)
	}
	if !processAlive(pid) || isZombie(pid) {
		return 0, fmt.Errorf("testbed: miniupnpd (pid %d) is not running", pid)
	}
	return pid, nil
}

// GatewayAlive reports whether miniupnpd still runs.
func (tb *Testbed) GatewayAlive() bool {
	_, err := tb.GatewayPID()
	return err == nil
}

func isZombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// The state follows the parenthesised command name.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] == 'Z'
}

// StopGateway stops miniupnpd (SIGKILL, like a power cut: it gets no chance
// to remove its rules or say goodbye) and waits for it to go.
func (tb *Testbed) StopGateway(ctx context.Context) error {
	pid, err := tb.GatewayPID()
	if err != nil {
		return nil // already gone
	}
	syscall.Kill(pid, syscall.SIGKILL)
	// Generous: on a loaded machine a process in the middle of a netlink
	// call can take seconds to die.
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	for processAlive(pid) && !isZombie(pid) {
		select {
		case <-ctx.Done():
			return fmt.Errorf("testbed: miniupnpd (pid %d) did not stop", pid)
		case <-time.After(5 * time.Millisecond):
		}
	}
	return nil
}

// RestartOption changes the gateway on a restart.
type RestartOption func(*Testbed)

// WithHTTPPort gives the restarted miniupnpd another UPnP HTTP port, as some
// routers do after a reboot.
func WithHTTPPort(port int) RestartOption { return func(tb *Testbed) { tb.HTTPPort = port } }

// minUptime is how long miniupnpd has run before a restart. A real router
// has been up for a while when it reboots, and clients rely on that: the
// NAT-PMP/PCP epoch and UPnP uptime of a fresh daemon are only recognised
// as a reboot when they fall clearly behind what the client expected (RFC
// 6886 §3.6 and RFC 6887 §8.5 allow 2 s and 1/16 of slack), and
// miniupnpd's BOOTID is its start time in seconds.
const minUptime = 10 * time.Second

// Restart simulates a gateway reboot: miniupnpd dies, its nftables chains
// are flushed (the mappings are lost) and it starts again with a new epoch
// and BOOTID. It first waits until the old daemon has run for 10 s.
func (tb *Testbed) Restart(ctx context.Context, opts ...RestartOption) error {
	if st, err := tb.startedAt(); err == nil {
		if wait := minUptime - time.Since(st); wait > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(wait):
			}
		}
	}
	if err := tb.StopGateway(ctx); err != nil {
		return err
	}
	for _, chain := range miniupnpdChains {
		if err := run(ctx, "ip", "netns", "exec", tb.gwNS(), "nft", "flush", "chain", "inet", "filter", chain); err != nil {
			return err
		}
	}
	for _, o := range opts {
		o(tb)
	}
	return tb.startGateway(ctx)
}

// startedAt is when the current miniupnpd started (its pid file's time).
func (tb *Testbed) startedAt() (time.Time, error) {
	fi, err := os.Stat(tb.pidFile())
	if err != nil {
		return time.Time{}, err
	}
	return fi.ModTime(), nil
}

// ReadRuleset returns the gateway's nftables ruleset as text.
func (tb *Testbed) ReadRuleset(ctx context.Context) (string, error) {
	return output(tb.GatewayCmd(ctx, "nft", "list", "ruleset"))
}

func newUUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
