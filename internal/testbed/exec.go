//go:build linux

package testbed

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
)

// GatewayCmd returns a command that runs in the gateway's namespace.
func (tb *Testbed) GatewayCmd(ctx context.Context, name string, args ...string) *exec.Cmd {
	return nsCmd(ctx, tb.gwNS(), name, args...)
}

// InternetCmd returns a command that runs in the internet host's namespace.
func (tb *Testbed) InternetCmd(ctx context.Context, name string, args ...string) *exec.Cmd {
	return nsCmd(ctx, tb.inetNS(), name, args...)
}

// LANCmd returns a command that runs in the LAN host's namespace. Inside an
// e2e test the process already is there and can run commands directly.
func (tb *Testbed) LANCmd(ctx context.Context, name string, args ...string) *exec.Cmd {
	return nsCmd(ctx, tb.lanNS(), name, args...)
}

func nsCmd(ctx context.Context, ns, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns, name}, args...)...)
}

// run runs a command and turns a failure into an error carrying its output.
func run(ctx context.Context, name string, args ...string) error {
	_, err := output(exec.CommandContext(ctx, name, args...))
	return err
}

// output runs cmd and returns its standard output; a failure carries the
// command line and its standard error.
func output(cmd *exec.Cmd) (string, error) {
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("testbed: %s: %w: %s", strings.Join(cmd.Args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}
