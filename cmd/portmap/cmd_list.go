package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/portmap-dev/portmap"
	"github.com/portmap-dev/portmap/internal/state"
)

func newListCmd(a *app) *cobra.Command {
	var mine bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the gateway's port mappings",
		Long: `list shows the gateway's port mappings (UPnP). NAT-PMP and PCP cannot list:
with them, list shows the mappings portmap made from this host and recorded.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := a.context(cmd)
			defer cancel()
			c, err := a.discoverLister(ctx)
			if err != nil {
				return err
			}
			defer c.Close()
			ms, err := c.List(ctx)
			if errors.Is(err, portmap.ErrNotSupported) {
				a.warnf("%s cannot list mappings; these are the ones portmap made from this host", c.Protocol())
				ms, err = a.recorded(c)
			}
			if err != nil {
				return err
			}
			if mine {
				ms = slices.DeleteFunc(ms, func(m portmap.Mapping) bool { return m.Internal.Addr() != c.LocalAddr() })
			}
			if a.json {
				out := make([]mappingJSON, 0, len(ms))
				for _, m := range ms {
					out = append(out, toJSON(m))
				}
				return a.printJSON(out)
			}
			if len(ms) == 0 {
				fmt.Fprintln(a.stderr, "no mappings")
				return nil
			}
			printMappingTable(a.stdout, ms)
			return nil
		},
	}
	cmd.Flags().BoolVar(&mine, "mine", false, "only mappings to this host")
	return cmd
}

// state is the record of the mappings this user made.
func (a *app) state() state.File {
	if a.statePath != "" {
		return state.File{Path: a.statePath}
	}
	return state.File{Path: state.DefaultPath()}
}

// recorded returns the recorded mappings on c's gateway with c's protocol.
func (a *app) recorded(c *portmap.Client) ([]portmap.Mapping, error) {
	all, err := a.state().Load()
	if err != nil {
		return nil, err
	}
	var ms []portmap.Mapping
	for _, m := range all {
		if m.Gateway == c.Gateway() && m.Protocol == c.Protocol() {
			ms = append(ms, m)
		}
	}
	return ms, nil
}

// discoverLister is discover for list: with --via auto it asks for UPnP
// first, the only protocol that can list the gateway's table, and falls
// back to the best protocol (and the record of what portmap made) when the
// gateway does not speak UPnP.
func (a *app) discoverLister(ctx context.Context) (*portmap.Client, error) {
	opts, err := a.options()
	if err != nil {
		return nil, err
	}
	if len(opts.Protocols) > 0 {
		return portmap.Discover(ctx, opts)
	}
	opts.Protocols = []portmap.Protocol{portmap.UPnP}
	uctx, cancel := context.WithTimeout(ctx, upnpListDiscovery)
	c, err := portmap.Discover(uctx, opts)
	cancel()
	if err == nil {
		return c, nil
	}
	opts.Protocols = nil
	return portmap.Discover(ctx, opts)
}

// upnpListDiscovery bounds the search for UPnP before list falls back.
const upnpListDiscovery = 2 * time.Second
