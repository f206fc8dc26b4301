//go:build linux

package netinfo

import (
	"encoding/binary"
	"errors"
	"io/fs"
	"os"
)

// systemRoutes reads the main routing table from /proc. A missing
// ipv6_route (IPv6 disabled) is not an error.
func systemRoutes() ([]rtEntry, error) {
	f, err := os.Open("/proc/net/route")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	routes, err := parseProcRoute(f, binary.NativeEndian)
	if err != nil {
		return nil, err
	}
	f6, err := os.Open("/proc/net/ipv6_route")
	if errors.Is(err, fs.ErrNotExist) {
		return routes, nil
	}
	if err != nil {
		return nil, err
	}
	defer f6.Close()
	r6, err := parseIPv6Route(f6)
	if err != nil {
		return nil, err
	}
	return append(routes, r6...), nil
}
