//go:build linux

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"time"

	"github.com/portmap-dev/portmap/upnp"
)

// upnpChildResult is what the fill and list children report.
type upnpChildResult struct {
	Elapsed time.Duration `json:"elapsed"` // the adds, or one listing
	Entries int           `json:"entries"` // mappings listed
}

// childIGD finds the testbed's IGD by a unicast search to the gateway,
// within 20 s.
func childIGD(ctx context.Context, c childConfig) (*upnp.IGD, error) {
	gw, err := netip.ParseAddr(c.gateway)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	start := time.Now()
	igd, err := upnp.Discover(ctx, upnp.DiscoverOptions{Gateway: gw, NoMulticast: true})
	if err != nil {
		return nil, fmt.Errorf("discovery (after %v): %w", time.Since(start).Round(time.Millisecond), err)
	}
	return igd, nil
}

// childFill adds mappings c.first .. c.first+c.n-1 (external = internal
// port, to c.host) with one AddPortMapping each: the quickest way to fill
// the gateway's table, whose every request gets slower as it grows.
func childFill(c childConfig) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	host, err := netip.ParseAddr(c.host)
	if err != nil {
		return err
	}
	igd, err := childIGD(ctx, c)
	if err != nil {
		return err
	}
	start := time.Now()
	for i := range c.n {
		port := uint16(c.first + i)
		err := igd.WAN.AddPortMapping(ctx, upnp.PortMapping{
			ExternalPort:   port,
			Protocol:       "TCP",
			InternalPort:   port,
			InternalClient: host,
			Enabled:        true,
			Description:    fmt.Sprintf("bench list %d", c.first+i),
			LeaseDuration:  time.Hour,
		})
		if err != nil {
			return fmt.Errorf("AddPortMapping %d: %w", port, err)
		}
	}
	return json.NewEncoder(os.Stdout).Encode(upnpChildResult{Elapsed: time.Since(start)})
}

// childList lists the table once with the library's windowed listing and
// c.n entries at most per reply: how the listing strategy, not process
// start or discovery, drives the time.
func childList(c childConfig) error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	igd, err := childIGD(ctx, c)
	if err != nil {
		return err
	}
	start := time.Now()
	pms, err := igd.WAN.ListPortMappings(ctx, upnp.ListOptions{Manage: true, MaxPerReply: c.n})
	if err != nil {
		return fmt.Errorf("listing (after %v, %d entries): %w", time.Since(start).Round(time.Millisecond), len(pms), err)
	}
	return json.NewEncoder(os.Stdout).Encode(upnpChildResult{Elapsed: time.Since(start), Entries: len(pms)})
}
