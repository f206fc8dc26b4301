package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/portmap-dev/portmap"
)

func newIPCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "ip",
		Short: "Print the gateway's external IPv4 address",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := a.context(cmd)
			defer cancel()
			c, err := a.discover(ctx)
			if err != nil {
				return err
			}
			defer c.Close()
			ip, err := c.ExternalIP(ctx)
			if err != nil {
				return err
			}
			if w := portmap.ClassifyAddress(ip).Warning(); w != "" {
				a.warnf("%s", w)
			}
			if a.json {
				return a.printJSON(map[string]string{"external_ip": ip.String()})
			}
			fmt.Fprintln(a.stdout, ip)
			return nil
		},
	}
}

// discover finds the gateway and protocol per the global flags.
func (a *app) discover(ctx context.Context) (*portmap.Client, error) {
	opts, err := a.options()
	if err != nil {
		return nil, err
	}
	return portmap.Discover(ctx, opts)
}
