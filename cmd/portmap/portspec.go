package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/portmap-dev/portmap"
)

// portSpec is a parsed "[EXT:]INT[/tcp|/udp]" argument.
type portSpec struct {
	External  uint16 // 0 when not given
	Internal  uint16 // 0 when not given (delete EXT)
	Transport portmap.Transport
}

// parseMapSpec parses the argument of "add": [EXT:]INT[/tcp|/udp].
func parseMapSpec(s string) (portSpec, error) {
	ports, transport, err := splitTransport(s)
	if err != nil {
		return portSpec{}, err
	}
	spec := portSpec{Transport: transport}
	ext, in, hasExt := strings.Cut(ports, ":")
	if !hasExt {
		in = ext
	} else if spec.External, err = parsePort(ext, s); err != nil {
		return portSpec{}, err
	}
	if spec.Internal, err = parsePort(in, s); err != nil {
		return portSpec{}, err
	}
	return spec, nil
}

// parseDeleteSpec parses the argument of "delete": EXT[:INT][/tcp|/udp].
func parseDeleteSpec(s string) (portSpec, error) {
	ports, transport, err := splitTransport(s)
	if err != nil {
		return portSpec{}, err
	}
	spec := portSpec{Transport: transport}
	ext, in, hasIn := strings.Cut(ports, ":")
	if spec.External, err = parsePort(ext, s); err != nil {
		return portSpec{}, err
	}
	if hasIn {
		if spec.Internal, err = parsePort(in, s); err != nil {
			return portSpec{}, err
		}
	}
	return spec, nil
}

// portRange is a parsed "A-B[/tcp|/udp]"; Transport is "" when both.
type portRange struct {
	First, Last uint16
	Transport   portmap.Transport
}

func parseRange(s string) (portRange, error) {
	ports, transport, hasTransport := strings.Cut(s, "/")
	var r portRange
	if hasTransport {
		t, err := portmap.ParseTransport(transport)
		if err != nil {
			return r, usageErrorf("%q: unknown transport %q: use /tcp or /udp", s, transport)
		}
		r.Transport = t
	}
	a, b, ok := strings.Cut(ports, "-")
	if !ok {
		return r, usageErrorf("%q is not a port range: use FIRST-LAST, e.g. 8000-8100/tcp", s)
	}
	var err error
	if r.First, err = parsePort(a, s); err != nil {
		return r, err
	}
	if r.Last, err = parsePort(b, s); err != nil {
		return r, err
	}
	if r.First > r.Last {
		return r, usageErrorf("%q: the range's first port is above its last", s)
	}
	return r, nil
}

func splitTransport(s string) (ports string, t portmap.Transport, err error) {
	ports, transport, has := strings.Cut(s, "/")
	if !has {
		return ports, portmap.TCP, nil
	}
	if t, err = portmap.ParseTransport(transport); err != nil {
		return "", "", usageErrorf("%q: unknown transport %q: use /tcp or /udp", s, transport)
	}
	return ports, t, nil
}

func parsePort(p, whole string) (uint16, error) {
	n, err := strconv.Atoi(p)
	if err != nil || n < 1 || n > 65535 {
		if p == whole {
			return 0, usageErrorf("invalid port %q: a port is a number from 1 to 65535", p)
		}
		return 0, usageErrorf("invalid port %q in %q: a port is a number from 1 to 65535", p, whole)
	}
	return uint16(n), nil
}

func (s portSpec) String() string {
	if s.External != 0 && s.Internal != 0 && s.External != s.Internal {
		return fmt.Sprintf("%d:%d/%s", s.External, s.Internal, s.Transport)
	}
	if s.External != 0 {
		return fmt.Sprintf("%d/%s", s.External, s.Transport)
	}
	return fmt.Sprintf("%d/%s", s.Internal, s.Transport)
}
