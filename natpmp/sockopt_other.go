//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly || windows)

package natpmp

import "syscall"

const canBindGroup = false

// reuseControl does nothing where address reuse is not known to work.
func reuseControl(_, _ string, _ syscall.RawConn) error { return nil }
