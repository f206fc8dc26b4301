//go:build unix

package natpmp

import "syscall"

// errPortUnreachable is how a read reports ICMP port unreachable here.
var errPortUnreachable error = syscall.ECONNREFUSED
