//go:build windows

package natpmp

import (
	"errors"
	"net"
	"unsafe"

	"golang.org/x/sys/windows"
)

// isRefused reports whether err is the ICMP port unreachable of a UDP
// socket, which Windows reports as a connection reset.
func isRefused(err error) bool {
	return errors.Is(err, windows.WSAECONNRESET) || errors.Is(err, windows.WSAECONNREFUSED)
}

// reportPortUnreachable turns back on the reporting of ICMP port
// unreachable that Go disables on Windows UDP sockets (go.dev/issue/5834):
// for this client it is the quick "no NAT-PMP here" answer. Failing that,
// calls just time out.
func reportPortUnreachable(c *net.UDPConn) {
	rc, err := c.SyscallConn()
	if err != nil {
		return
	}
	rc.Control(func(fd uintptr) {
		flag, ret := uint32(1), uint32(0)
		windows.WSAIoctl(windows.Handle(fd), windows.SIO_UDP_CONNRESET, (*byte)(unsafe.Pointer(&flag)),
			uint32(unsafe.Sizeof(flag)), nil, 0, &ret, nil, 0)
	})
}
