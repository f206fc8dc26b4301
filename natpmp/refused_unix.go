//go:build unix

package natpmp

import (
	"errors"
	"net"
	"syscall"
)

// isRefused reports whether err is the ICMP port unreachable of a
// connected UDP socket.
func isRefused(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }

// reportPortUnreachable: connected UDP sockets report it already.
func reportPortUnreachable(*net.UDPConn) {}
