package portmap

import (
	"errors"
	"syscall"
)

// isConnRefused reports a refused connection or an ICMP port unreachable:
// nothing listens where the gateway used to.
func isConnRefused(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH)
}
