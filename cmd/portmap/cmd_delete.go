package main

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	"github.com/spf13/cobra"

	"github.com/portmap-dev/portmap"
	"github.com/portmap-dev/portmap/internal/state"
)

type deleteFlags struct {
	all  bool
	mine bool
	rng  string
}

func newDeleteCmd(a *app) *cobra.Command {
	var f deleteFlags
	cmd := &cobra.Command{
		Use:   "delete EXT[:INT][/tcp|/udp] | --all [--mine] | --range A-B[/tcp|/udp]",
		Short: "Delete port mappings",
		Long: `delete removes the mapping of external port EXT. NAT-PMP deletes by internal
port and PCP with the nonce that made the mapping: portmap finds both in its
record of the mappings it made; EXT:INT names the internal port explicitly.`,
		Example: `  portmap delete 18080/udp
  portmap delete --all --mine
  portmap delete --range 8000-8100/tcp`,
		Aliases: []string{"rm", "del"},
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case f.all && f.rng != "":
				return usageErrorf("--all and --range do not go together")
			case (f.all || f.rng != "") && len(args) > 0:
				return usageErrorf("give either a port or --all/--range, not both")
			case f.mine && !f.all && f.rng == "":
				return usageErrorf("--mine goes with --all or --range")
			case !f.all && f.rng == "" && len(args) != 1:
				return usageErrorf("delete needs one port, e.g. 'portmap delete 8080/tcp', or --all or --range A-B")
			}
			filter := portmap.Filter{}
			if f.rng != "" {
				r, err := parseRange(f.rng)
				if err != nil {
					return err
				}
				filter = portmap.Filter{First: r.First, Last: r.Last, Transport: r.Transport}
			}
			ctx, cancel := a.context(cmd)
			defer cancel()
			c, err := a.discover(ctx)
			if err != nil {
				return err
			}
			defer c.Close()
			if f.mine {
				filter.InternalIP = c.LocalAddr()
			}
			if len(args) == 1 {
				spec, err := parseDeleteSpec(args[0])
				if err != nil {
					return err
				}
				return a.deleteOne(ctx, c, spec)
			}
			return a.deleteMany(ctx, c, filter)
		},
	}
	cmd.Flags().BoolVar(&f.all, "all", false, "delete every mapping (with --mine: every mapping to this host)")
	cmd.Flags().BoolVar(&f.mine, "mine", false, "with --all or --range: only mappings to this host")
	cmd.Flags().StringVar(&f.rng, "range", "", "delete the mappings with external ports in `A-B[/tcp|/udp]`")
	return cmd
}

// deleteOne deletes the mapping of one external port.
func (a *app) deleteOne(ctx context.Context, c *portmap.Client, spec portSpec) error {
	m, found, err := a.lookup(c, spec)
	if err != nil {
		return err
	}
	if !found {
		switch c.Protocol() {
		case portmap.NATPMP:
			if spec.Internal == 0 {
				return fmt.Errorf("natpmp deletes by internal port, and portmap has no record of external port %d/%s: use 'portmap delete %d:INT/%s'", spec.External, spec.Transport, spec.External, spec.Transport)
			}
		case portmap.PCP:
			if spec.Internal == 0 {
				return fmt.Errorf("pcp deletes with the nonce that made the mapping, and portmap has no record of external port %d/%s (it may have been made by another program)", spec.External, spec.Transport)
			}
		}
	}
	if err := c.Delete(ctx, m); err != nil {
		return err
	}
	a.forget(m)
	if a.json {
		return a.printJSON(toJSON(m))
	}
	fmt.Fprintf(a.stdout, "deleted %s %s\n", m.Transport, externalString(m))
	return nil
}

// lookup builds the mapping to delete from the record, or from the
// command line when there is none.
func (a *app) lookup(c *portmap.Client, spec portSpec) (portmap.Mapping, bool, error) {
	recorded, err := a.recorded(c)
	if err != nil {
		return portmap.Mapping{}, false, err
	}
	for _, m := range recorded {
		if m.External.Port() == spec.External && m.Transport == spec.Transport && (spec.Internal == 0 || spec.Internal == m.Internal.Port()) {
			return m, true, nil
		}
	}
	m := portmap.Mapping{
		Protocol:  c.Protocol(),
		Gateway:   c.Gateway(),
		Transport: spec.Transport,
		External:  netip.AddrPortFrom(netip.Addr{}, spec.External),
		Internal:  netip.AddrPortFrom(c.LocalAddr(), spec.Internal),
	}
	return m, false, nil
}

// deleteMany deletes every mapping passing the filter: those the gateway
// lists (UPnP) or, where it cannot list, those recorded.
func (a *app) deleteMany(ctx context.Context, c *portmap.Client, filter portmap.Filter) error {
	deleted, err := c.DeleteAll(ctx, filter)
	if errors.Is(err, portmap.ErrNotSupported) {
		deleted, err = nil, nil
		recorded, rerr := a.recorded(c)
		if rerr != nil {
			return rerr
		}
		var errs []error
		for _, m := range recorded {
			if !filter.Match(m) {
				continue
			}
			if derr := c.Delete(ctx, m); derr != nil {
				errs = append(errs, derr)
				continue
			}
			deleted = append(deleted, m)
		}
		err = errors.Join(errs...)
	}
	for _, m := range deleted {
		a.forget(m)
	}
	if a.json {
		out := make([]mappingJSON, 0, len(deleted))
		for _, m := range deleted {
			out = append(out, toJSON(m))
		}
		if jerr := a.printJSON(out); jerr != nil {
			return jerr
		}
	} else {
		fmt.Fprintf(a.stdout, "deleted %d mapping(s)\n", len(deleted))
	}
	return err
}

// forget removes a deleted mapping from the record.
func (a *app) forget(m portmap.Mapping) {
	key := state.Key(m)
	if err := a.state().Remove(func(o portmap.Mapping) bool { return state.Key(o) == key }); err != nil {
		a.warnf("could not update the record of mappings: %v", err)
	}
}
