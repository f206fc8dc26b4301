//go:build !unix && !windows

package natpmp

import "net"

// isRefused: this system does not report ICMP errors on UDP sockets.
func isRefused(error) bool { return false }

func reportPortUnreachable(*net.UDPConn) {}
