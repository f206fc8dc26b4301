//go:build windows

package natpmp

import "golang.org/x/sys/windows"

// errPortUnreachable is how a read reports ICMP port unreachable here.
var errPortUnreachable error = windows.WSAECONNRESET
