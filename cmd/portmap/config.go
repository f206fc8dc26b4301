package main

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/portmap-dev/portmap"
)

// runConfig is the file "portmap run --config FILE" reads (TOML):
//
//	gateway = "192.168.1.1"      # optional: skip detection
//	via = "auto"                 # auto, upnp, natpmp or pcp
//	status = "127.0.0.1:7654"    # optional: serve GET /status as JSON here
//
//	[[mapping]]
//	port = "8080"                # [EXT:]INT[/tcp|/udp], as for "portmap add"
//	lifetime = "1h"              # optional, default 168h
//	description = "web server"   # optional
//	to = "192.168.1.20"          # optional: another LAN host
type runConfig struct {
	Gateway  string          `toml:"gateway"`
	Via      string          `toml:"via"`
	Status   string          `toml:"status"`
	Mappings []mappingConfig `toml:"mapping"`
}

type mappingConfig struct {
	Port        string   `toml:"port"`
	Lifetime    duration `toml:"lifetime"`
	Description string   `toml:"description"`
	To          string   `toml:"to"`
}

// duration is a Go duration string in TOML ("1h30m").
type duration struct{ time.Duration }

func (d *duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%q is not a duration such as 1h or 30m", b)
	}
	d.Duration = v
	return nil
}

// maxConfigSize bounds the configuration file read.
const maxConfigSize = 1 << 20

// loadConfig reads and checks a configuration file.
func loadConfig(path string) (*runConfig, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, usageErrorf("--config: %v", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxConfigSize+1))
	if err != nil {
		return nil, usageErrorf("--config: %v", err)
	}
	if len(b) > maxConfigSize {
		return nil, usageErrorf("--config %s: larger than %d bytes", path, maxConfigSize)
	}
	var c runConfig
	md, err := toml.Decode(string(b), &c)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, usageErrorf("--config %s: line %d: %s", path, pe.Position.Line, pe.Message)
		}
		return nil, usageErrorf("--config %s: %v", path, err)
	}
	if undec := md.Undecoded(); len(undec) > 0 {
		return nil, usageErrorf("--config %s: unknown key %q", path, undec[0].String())
	}
	if len(c.Mappings) == 0 {
		return nil, usageErrorf("--config %s: no [[mapping]]: nothing to keep", path)
	}
	return &c, nil
}

// requests turns the configured mappings into requests.
func (c *runConfig) requests() ([]portmap.Request, error) {
	reqs := make([]portmap.Request, 0, len(c.Mappings))
	for i, m := range c.Mappings {
		spec, err := parseMapSpec(m.Port)
		if err != nil {
			return nil, usageErrorf("mapping %d: %v", i+1, err)
		}
		req := portmap.Request{
			Transport:    spec.Transport,
			InternalPort: spec.Internal,
			ExternalPort: spec.External,
			ExactPort:    spec.External != 0,
			Lifetime:     m.Lifetime.Duration,
			Description:  m.Description,
		}
		if req.Lifetime < 0 {
			return nil, usageErrorf("mapping %d: negative lifetime", i+1)
		}
		if req.Description == "" {
			req.Description = "portmap " + spec.String()
		}
		if m.To != "" {
			if req.InternalIP, err = netip.ParseAddr(m.To); err != nil {
				return nil, usageErrorf("mapping %d: to = %q is not an IP address", i+1, m.To)
			}
		}
		reqs = append(reqs, req)
	}
	return reqs, nil
}
