package main

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/spf13/cobra"

	"github.com/portmap-dev/portmap"
)

type addFlags struct {
	to          string
	lifetime    time.Duration
	description string
	keep        bool
}

func newAddCmd(a *app) *cobra.Command {
	var f addFlags
	cmd := &cobra.Command{
		Use:   "add [EXT:]INT[/tcp|/udp]",
		Short: "Map an external port to a port on this host",
		Long: `add maps external port EXT of the gateway to port INT on this host (or --to).
Without EXT the external port is INT if it is free, and any free one if not;
with EXT, that port or an error. The transport is tcp unless /udp is given.`,
		Example: `  portmap add 8080
  portmap add 18080:8080/udp --lifetime 1h --description "game server"
  portmap add 2222:22 --keep`,
		Args: exactArgs(1, "add needs one port, e.g. 'portmap add 8080' or 'portmap add 18080:8080/udp'"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.add(cmd, args[0], f)
		},
	}
	cmd.Flags().StringVar(&f.to, "to", "", "internal `IP` to map to (default: this host's address toward the gateway)")
	cmd.Flags().DurationVar(&f.lifetime, "lifetime", portmap.DefaultLifetime, "lease to ask for (the gateway may grant less); 0 asks for a permanent mapping where allowed")
	cmd.Flags().StringVar(&f.description, "description", "", "description shown in the router's table (UPnP)")
	cmd.Flags().BoolVar(&f.keep, "keep", false, "stay in the foreground: renew, restore after a gateway reboot, delete on Ctrl-C/SIGTERM")
	return cmd
}

func (a *app) add(cmd *cobra.Command, arg string, f addFlags) error {
	spec, err := parseMapSpec(arg)
	if err != nil {
		return err
	}
	req := portmap.Request{
		Transport:    spec.Transport,
		InternalPort: spec.Internal,
		ExternalPort: spec.External,
		ExactPort:    spec.External != 0,
		Lifetime:     f.lifetime,
		Description:  f.description,
	}
	if f.lifetime < 0 {
		return usageErrorf("--lifetime %v is negative", f.lifetime)
	}
	if f.to != "" {
		if req.InternalIP, err = netip.ParseAddr(f.to); err != nil {
			return usageErrorf("--to %q is not an IP address", f.to)
		}
	}
	if req.Description == "" {
		req.Description = fmt.Sprintf("portmap %s", spec)
	}
	ctx, cancel := a.context(cmd)
	defer cancel()
	c, err := a.discover(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	if f.keep {
		return a.keepAdd(cmd, ctx, c, req)
	}
	m, err := c.Add(ctx, req)
	if err != nil {
		return err
	}
	a.added(m)
	return a.printMapping(m)
}

// added records a new mapping and warns when it cannot be reached.
func (a *app) added(m portmap.Mapping) {
	if err := a.state().Put(m); err != nil {
		a.warnf("could not record the mapping (%v): 'portmap delete' may need EXT:INT", err)
	}
	if w := portmap.ClassifyAddress(m.External.Addr()).Warning(); w != "" {
		a.warnf("%s", w)
	}
	switch {
	case m.Permanent && m.Lifetime > 0:
		a.warnf("the router refused the lease asked for: this mapping lasts a week (IGDv2's lease 0) unless 'portmap delete %d/%s'", m.External.Port(), m.Transport)
	case m.Permanent:
		a.warnf("the router grants only permanent mappings: this one stays until 'portmap delete %d/%s'", m.External.Port(), m.Transport)
	}
}

func (a *app) printMapping(m portmap.Mapping) error {
	if a.json {
		return a.printJSON(toJSON(m))
	}
	fmt.Fprintf(a.stdout, "%s %s -> %s via %s (%s), lifetime %s\n",
		m.Transport, externalString(m), m.Internal, m.Protocol, m.Gateway, lifetimeString(m))
	return nil
}

// exactArgs is cobra.ExactArgs with a message that says what to type.
func exactArgs(n int, hint string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usageErrorf("%s", hint)
		}
		return nil
	}
}
