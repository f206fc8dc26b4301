//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package natpmp

import (
	"errors"
	"syscall"

	"golang.org/x/sys/unix"
)

// canBindGroup: these systems accept binding a socket to a multicast group
// address, which keeps unicast datagrams to port 5350 out.
const canBindGroup = true

// reuseControl sets SO_REUSEADDR and SO_REUSEPORT so that several processes
// can receive the announcements.
func reuseControl(_, _ string, rc syscall.RawConn) error {
	var serr error
	err := rc.Control(func(fd uintptr) {
		if serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); serr != nil {
			return
		}
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	})
	return errors.Join(err, serr)
}
