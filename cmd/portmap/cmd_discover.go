package main

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/portmap-dev/portmap"
)

type protocolJSON struct {
	Protocol   portmap.Protocol `json:"protocol"`
	Version    string           `json:"version,omitempty"`
	ExternalIP string           `json:"external_ip,omitempty"`
	Status     string           `json:"status,omitempty"`
	RTTMillis  float64          `json:"rtt_ms"`
	Error      string           `json:"error,omitempty"`
}

type gatewayJSON struct {
	Address     string             `json:"address"`
	Protocols   []portmap.Protocol `json:"protocols"`
	ExternalIP  string             `json:"external_ip"`
	AddressKind string             `json:"address_kind"`
	Status      string             `json:"status,omitempty"`
	Details     []protocolJSON     `json:"details"`
	Warnings    []string           `json:"warnings,omitempty"`
	OffRoute    bool               `json:"off_route,omitempty"`
}

func newDiscoverCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "discover",
		Short: "Find gateways and the protocols they speak",
		Long: `discover asks each default gateway (or the one named with --gateway) with all
three protocols at once and shows which answer, the external address, the
connection status and the round-trip time of each; it warns when the external
address is private (double NAT) or shared (carrier-grade NAT). Other UPnP
routers answering on the LAN are listed too, marked as not on this host's route.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := a.context(cmd)
			defer cancel()
			opts, err := a.options()
			if err != nil {
				return err
			}
			gws, err := portmap.DiscoverAll(ctx, opts)
			if err != nil {
				return err
			}
			out := make([]gatewayJSON, 0, len(gws))
			for _, g := range gws {
				out = append(out, discoverJSON(g))
				for _, w := range g.Warnings() {
					a.warnf("%s: %s", g.Address, w)
				}
			}
			if a.json {
				return a.printJSON(map[string]any{"gateways": out})
			}
			printDiscover(a, out)
			return nil
		},
	}
}

func discoverJSON(g portmap.GatewayInfo) gatewayJSON {
	j := gatewayJSON{
		Address:     addrString(g.Address),
		Protocols:   []portmap.Protocol{},
		ExternalIP:  addrString(g.ExternalIP),
		AddressKind: portmap.ClassifyAddress(g.ExternalIP).String(),
		Warnings:    g.Warnings(),
		OffRoute:    g.OffRoute,
	}
	for _, p := range g.Probes {
		d := protocolJSON{
			Protocol:   p.Protocol,
			Version:    p.Version,
			ExternalIP: addrString(p.ExternalIP),
			Status:     p.Status,
			RTTMillis:  float64(p.RTT.Microseconds()) / 1000,
		}
		if p.Err != nil {
			d.Error = p.Err.Error()
		} else {
			j.Protocols = append(j.Protocols, p.Protocol)
			if p.Status != "" && j.Status == "" {
				j.Status = p.Status
			}
		}
		j.Details = append(j.Details, d)
	}
	return j
}

func printDiscover(a *app, gws []gatewayJSON) {
	for _, g := range gws {
		protos := make([]string, len(g.Protocols))
		for i, p := range g.Protocols {
			protos[i] = string(p)
		}
		kind := "gateway"
		if g.OffRoute {
			kind = "other router (not on this host's route)"
		}
		fmt.Fprintf(a.stdout, "%s %s: external IP %s (%s), speaks %s\n", kind, g.Address, orDash(g.ExternalIP), g.AddressKind, orDash(strings.Join(protos, ", ")))
		tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
		for _, d := range g.Details {
			result := "ok"
			if d.Error != "" {
				result = d.Error
			}
			rtt := (time.Duration(d.RTTMillis * float64(time.Millisecond))).Round(10 * time.Microsecond)
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%v\t%s\n", d.Protocol, orDash(d.Version), orDash(d.Status), rtt, sanitize(result))
		}
		tw.Flush()
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
