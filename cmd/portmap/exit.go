package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/portmap-dev/portmap"
)

// Exit codes, as documented in the CLI contract.
const (
	exitOK        = 0 // success
	exitFailed    = 1 // the gateway refused, or the operation failed
	exitUsage     = 2 // bad command line
	exitNoGateway = 3 // no gateway answered in time
)

// usageError is a mistake on the command line (exit 2).
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usageErrorf(format string, args ...any) error {
	return &usageError{fmt.Sprintf(format, args...)}
}

// cmdError wraps every error a command's RunE returns, so that run can
// tell them from cobra's own errors about the command line.
type cmdError struct{ err error }

func (e *cmdError) Error() string { return e.err.Error() }
func (e *cmdError) Unwrap() error { return e.err }

// exitCode maps an error to the process's exit status.
func exitCode(err error) int {
	var ue *usageError
	var ce *cmdError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue):
		return exitUsage
	case !errors.As(err, &ce):
		return exitUsage // cobra's own: unknown command or flag, bad flag value
	case errors.Is(err, portmap.ErrNoGateway), errors.Is(err, context.DeadlineExceeded):
		return exitNoGateway
	}
	return exitFailed
}
