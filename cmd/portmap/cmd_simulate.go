package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/portmap-dev/portmap/portmaptest"
)

// simulateJSON is what "portmap simulate --json" prints.
type simulateJSON struct {
	Gateway    string   `json:"gateway"`
	Protocols  []string `json:"protocols"`
	ExternalIP string   `json:"external_ip"`
	Location   string   `json:"location,omitempty"`
}

func newSimulateCmd(a *app) *cobra.Command {
	var (
		listen     string
		public     bool
		externalIP string
		protocols  string
		igdV1      bool
	)
	cmd := &cobra.Command{
		Use:   "simulate",
		Short: "Run a local test gateway (UPnP IGD v2, NAT-PMP, PCP) on loopback",
		Long: `simulate runs a fake router in this process, on one loopback port P: NAT-PMP,
PCP and SSDP on UDP P, the UPnP description and SOAP control on TCP P. It keeps
a table of port mappings shared by the three protocols but changes no network
configuration: use it to try portmap, or to test a program, without a router.
It prints the --gateway value to use and runs until interrupted (Ctrl-C).

It listens on loopback only: it has no access control. --listen with another
address is refused unless --public is given as well.`,
		Example: `  portmap simulate
  portmap --gateway 127.0.0.1:41234 add 8080     # in another terminal
  portmap simulate --listen 127.0.0.1:5351 --protocols natpmp,pcp`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg := portmaptest.Config{AllowNonLoopback: public}
			var err error
			if cfg.Listen, err = parseListen(listen); err != nil {
				return err
			}
			if !cfg.Listen.Addr().IsLoopback() && !public {
				return usageErrorf("--listen %s is not a loopback address: the simulated gateway has no access control; add --public to expose it anyway", listen)
			}
			if externalIP != "" {
				ip, err := netip.ParseAddr(externalIP)
				if err != nil || !ip.Unmap().Is4() {
					return usageErrorf("--external-ip %q is not an IPv4 address", externalIP)
				}
				cfg.ExternalIP = ip.Unmap()
			}
			if cfg.Protocols, err = parseSimProtocols(protocols); err != nil {
				return err
			}
			if igdV1 {
				cfg.IGDVersion = 1
			}
			if a.verbose {
				cfg.Logger = slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
			}
			// No --timeout here: the gateway runs until SIGINT or SIGTERM,
			// which end cmd.Context().
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			gw, err := portmaptest.Start(ctx, cfg)
			if err != nil {
				return fmt.Errorf("simulate: %w", err)
			}
			defer gw.Close()
			if err := a.printSimulate(gw); err != nil {
				return err
			}
			<-ctx.Done()
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&listen, "listen", "127.0.0.1:0", "`ADDR` (IP:PORT) for the gateway's UDP and TCP port; port 0 picks a free one")
	f.BoolVar(&public, "public", false, "allow a --listen address that is not loopback")
	f.StringVar(&externalIP, "external-ip", "", "external IPv4 `address` the gateway reports (default "+portmaptest.DefaultExternalIP.String()+")")
	f.StringVar(&protocols, "protocols", "upnp,natpmp,pcp", "comma-separated `list` of the protocols to serve")
	f.BoolVar(&igdV1, "igdv1", false, "be an IGD v1 device (WANIPConnection:1) instead of IGD v2")
	return cmd
}

// printSimulate prints the address to use, as text or JSON.
func (a *app) printSimulate(gw *portmaptest.Gateway) error {
	cfg := gw.Config()
	var names, ids []string
	for _, p := range []portmaptest.Protocol{portmaptest.UPnP, portmaptest.NATPMP, portmaptest.PCP} {
		if !contains(cfg.Protocols, p) {
			continue
		}
		ids = append(ids, string(p))
		switch p {
		case portmaptest.UPnP:
			names = append(names, "UPnP IGD v"+strconv.Itoa(cfg.IGDVersion))
		case portmaptest.NATPMP:
			names = append(names, "NAT-PMP")
		case portmaptest.PCP:
			names = append(names, "PCP")
		}
	}
	if a.json {
		return a.printJSON(simulateJSON{Gateway: gw.GatewayFlag(), Protocols: ids, ExternalIP: cfg.ExternalIP.String(), Location: gw.Location()})
	}
	fmt.Fprintf(a.stdout, "simulated gateway (%s) on %s\n", strings.Join(names, ", "), gw.GatewayFlag())
	fmt.Fprintf(a.stdout, "use: portmap --gateway %s add 8080\n", gw.GatewayFlag())
	return nil
}

func contains(ps []portmaptest.Protocol, p portmaptest.Protocol) bool {
	for _, q := range ps {
		if q == p {
			return true
		}
	}
	return false
}

// parseListen accepts IP:PORT, [IPv6]:PORT, IP (port 0) and :PORT
// (loopback).
func parseListen(s string) (netip.AddrPort, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap, nil
	}
	if ip, err := netip.ParseAddr(s); err == nil {
		return netip.AddrPortFrom(ip, 0), nil
	}
	if p, ok := strings.CutPrefix(s, ":"); ok {
		if n, err := strconv.ParseUint(p, 10, 16); err == nil {
			return netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), uint16(n)), nil
		}
	}
	return netip.AddrPort{}, usageErrorf("--listen %q is not IP:PORT (e.g. 127.0.0.1:5351)", s)
}

// parseSimProtocols parses --protocols.
func parseSimProtocols(s string) ([]portmaptest.Protocol, error) {
	var out []portmaptest.Protocol
	for _, f := range strings.Split(s, ",") {
		switch p := portmaptest.Protocol(strings.ToLower(strings.TrimSpace(f))); p {
		case portmaptest.UPnP, portmaptest.NATPMP, portmaptest.PCP:
			if !contains(out, p) {
				out = append(out, p)
			}
		default:
			return nil, usageErrorf("--protocols %q: use a comma-separated list of upnp, natpmp and pcp", s)
		}
	}
	return out, nil
}
