//go:build !(linux || windows || darwin || dragonfly || freebsd || netbsd || openbsd)

package netinfo

import (
	"errors"
	"runtime"
)

// systemRoutes is not implemented on this system.
func systemRoutes() ([]rtEntry, error) {
	return nil, errors.New("netinfo: reading the routing table is not supported on " + runtime.GOOS)
}
