package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/portmap-dev/portmap"
)

// app holds the global flags and the outputs of one invocation.
type app struct {
	stdout, stderr io.Writer

	gateway   string
	via       string
	iface     string
	json      bool
	timeout   time.Duration
	verbose   bool
	statePath string // for tests; default under the user's state directory
}

// newRootCmd builds the command tree.
func newRootCmd(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:   "portmap",
		Short: "Open ports on your router with UPnP IGD, NAT-PMP and PCP",
		Long: `portmap opens ports on your router so that a program on this machine can be
reached from the internet. It speaks UPnP IGD (v1, v2), NAT-PMP and PCP.`,
		Example: `  portmap discover
  portmap add 8080                 # external 8080 -> this host's 8080/tcp
  portmap add 18080:8080/udp --lifetime 1h
  portmap list
  portmap delete 18080/udp`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return usageErrorf("missing command: see 'portmap --help'")
		},
	}
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return usageErrorf("%v; %s", err, cobraHint)
	})
	pf := root.PersistentFlags()
	pf.StringVarP(&a.gateway, "gateway", "g", os.Getenv("PORTMAP_GATEWAY"), "talk to the gateway at `IP[:PORT]`, skipping detection (env PORTMAP_GATEWAY)")
	pf.StringVar(&a.via, "via", "auto", "protocol: auto, upnp, natpmp or pcp")
	pf.StringVarP(&a.iface, "interface", "i", "", "use this network interface's address and gateway")
	pf.BoolVar(&a.json, "json", false, "machine-readable output (JSON) on stdout")
	pf.DurationVar(&a.timeout, "timeout", 10*time.Second, "overall deadline for the command")
	pf.BoolVarP(&a.verbose, "verbose", "v", false, "log each request and reply to stderr")
	pf.StringVar(&a.statePath, "state", "", "state file recording the mappings portmap made (default under the user's state directory)")
	pf.MarkHidden("state")
	root.RegisterFlagCompletionFunc("via", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return []string{"auto", "upnp", "natpmp", "pcp"}, cobra.ShellCompDirectiveNoFileComp
	})

	root.AddCommand(
		newDiscoverCmd(a),
		newIPCmd(a),
		newAddCmd(a),
		newListCmd(a),
		newDeleteCmd(a),
		newSimulateCmd(a),
		newRunCmd(a),
		newVersionCmd(a),
		newPinholeCmd(a),
	)
	// Every command's error is marked as the command's own, so that run
	// can tell it from cobra's complaints about the command line.
	for _, c := range allCommands(root) {
		if c.RunE == nil {
			continue
		}
		runE := c.RunE
		c.RunE = func(cmd *cobra.Command, args []string) error {
			if err := runE(cmd, args); err != nil {
				return &cmdError{err}
			}
			return nil
		}
	}
	return root
}

func allCommands(c *cobra.Command) []*cobra.Command {
	out := []*cobra.Command{c}
	for _, sub := range c.Commands() {
		out = append(out, allCommands(sub)...)
	}
	return out
}

// options turns the global flags into library options.
func (a *app) options() (portmap.Options, error) {
	var o portmap.Options
	if a.gateway != "" {
		addr, port, err := parseGateway(a.gateway)
		if err != nil {
			return o, err
		}
		o.Gateway, o.GatewayPort = addr, port
	}
	switch a.via {
	case "auto", "":
	default:
		p, err := portmap.ParseProtocol(a.via)
		if err != nil {
			return o, usageErrorf("--via %q: use auto, upnp, natpmp or pcp", a.via)
		}
		o.Protocols = []portmap.Protocol{p}
	}
	o.Interface = a.iface
	if a.verbose {
		o.Logger = slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	o.UPnPCachePath = portmap.DefaultUPnPCachePath()
	return o, nil
}

// parseGateway parses IP or IP:PORT ([IPv6]:PORT).
func parseGateway(s string) (netip.Addr, uint16, error) {
	if addr, err := netip.ParseAddr(s); err == nil {
		return addr, 0, nil
	}
	ap, err := netip.ParseAddrPort(s)
	if err != nil || ap.Port() == 0 {
		host, port, _ := strings.Cut(s, ":")
		if _, perr := strconv.Atoi(port); host != "" && perr == nil {
			return netip.Addr{}, 0, usageErrorf("--gateway %q: the gateway is an IP address, optionally with :PORT", s)
		}
		return netip.Addr{}, 0, usageErrorf("--gateway %q is not IP or IP:PORT (e.g. 192.168.1.1 or 127.0.0.1:5351)", s)
	}
	return ap.Addr(), ap.Port(), nil
}

// context returns the command's context bounded by --timeout.
func (a *app) context(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	if a.timeout <= 0 {
		return context.WithCancel(cmd.Context())
	}
	return context.WithTimeout(cmd.Context(), a.timeout)
}

// printJSON writes v as indented JSON on stdout.
func (a *app) printJSON(v any) error {
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// warnf prints a warning line on stderr.
func (a *app) warnf(format string, args ...any) {
	fmt.Fprintf(a.stderr, "portmap: warning: "+format+"\n", args...)
}
