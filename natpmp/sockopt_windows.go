//go:build windows

package natpmp

import (
	"errors"
	"syscall"

	"golang.org/x/sys/windows"
)

// canBindGroup: Windows does not bind a socket to a multicast address; the
// socket is bound to 0.0.0.0 and joined to the group.
const canBindGroup = false

// reuseControl sets SO_REUSEADDR, which on Windows lets several processes
// receive the announcements.
func reuseControl(_, _ string, rc syscall.RawConn) error {
	var serr error
	err := rc.Control(func(fd uintptr) {
		serr = windows.SetsockoptInt(windows.Handle(fd), windows.SOL_SOCKET, windows.SO_REUSEADDR, 1)
	})
	return errors.Join(err, serr)
}
