// Command portmap opens ports on routers with UPnP IGD, NAT-PMP and PCP.
//
// Usage:
//
//	portmap [flags] discover | ip | add [EXT:]INT[/tcp|/udp] | list | delete EXT[/tcp|/udp]
//	portmap [flags] pinhole add|update|delete|check|list ...
//	portmap run --config FILE | simulate [--listen ADDR] | version
//
// Run "portmap --help" for the flags, and see the README.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes one command line and returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	a := &app{stdout: stdout, stderr: stderr}
	root := newRootCmd(a)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err != nil {
		fmt.Fprintln(stderr, errorLine(err))
	}
	return exitCode(err)
}
