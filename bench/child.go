//go:build linux

package main

import (
	"flag"
	"fmt"
	"time"
)

// childConfig holds the flags of a child measurement: the bench program
// re-executes itself so that each measurement has a process of its own
// (in the LAN namespace for round trips, alone for the keeper's memory).
type childConfig struct {
	gateway  string
	host     string
	httpPort int
	n        int
	first    int
	via      string
	lifetime time.Duration
	duration time.Duration
}

func (c *childConfig) register(fs *flag.FlagSet) {
	fs.StringVar(&c.gateway, "child-gateway", "", "internal: gateway address (IP or IP:PORT)")
	fs.StringVar(&c.host, "child-host", "", "internal: the LAN host's address")
	fs.IntVar(&c.httpPort, "child-http-port", 0, "internal: gateway UPnP HTTP port")
	fs.IntVar(&c.n, "child-n", 0, "internal: count")
	fs.IntVar(&c.first, "child-first", 0, "internal: first port")
	fs.StringVar(&c.via, "child-via", "", "internal: protocol")
	fs.DurationVar(&c.lifetime, "child-lifetime", 10*time.Second, "internal: mapping lifetime")
	fs.DurationVar(&c.duration, "child-duration", 30*time.Second, "internal: how long to keep")
}

func runChild(mode string, c childConfig) error {
	switch mode {
	case "rtt":
		return childRTT(c)
	case "keeper":
		return childKeeper(c)
	case "fill":
		return childFill(c)
	case "list":
		return childList(c)
	}
	return fmt.Errorf("unknown child mode %q", mode)
}
