package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/portmap-dev/portmap"
)

// keepAdd is "add --keep": it makes the mapping, then stays in the
// foreground renewing and restoring it until SIGINT or SIGTERM, and deletes
// it before exiting 0.
func (a *app) keepAdd(cmd *cobra.Command, ctx context.Context, c *portmap.Client, req portmap.Request) error {
	opts, err := a.options()
	if err != nil {
		return err
	}
	k := portmap.NewKeeper(c, portmap.KeeperOptions{
		Discovery: opts,
		OnEvent: func(e portmap.Event) {
			switch e.Kind {
			case portmap.Created:
				return // printed below
			case portmap.Restored, portmap.Renewed, portmap.AddressChanged:
				a.added(e.Mapping)
			case portmap.Deleted:
				if e.Err == nil {
					a.forget(e.Mapping)
				}
			}
			// Events go to stderr even with --json: stdout holds the one
			// object the contract promises.
			fmt.Fprintf(a.stderr, "portmap: %s\n", sanitize(e.String()))
		},
	})
	m, err := k.Add(ctx, req)
	if err != nil {
		return err
	}
	a.added(m)
	if err := a.printMapping(m); err != nil {
		return err
	}
	fmt.Fprintln(a.stderr, "portmap: keeping the mapping; Ctrl-C deletes it and exits")
	// --timeout bounded the first request; keeping lasts until a signal.
	return k.Run(cmd.Context())
}
