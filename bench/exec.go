//go:build linux

package main

import (
	"bytes"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// runTimed runs cmd and measures the wall time around it: from just before
// the fork of "ip netns exec" to the reap of the process, so the namespace
// switch and process start count for every tool alike. "ip netns exec"
// execs the tool in its own process (no extra fork), so the process's rusage
// time is the tool's (plus the few hundred microseconds of ip itself).
func runTimed(cmd *exec.Cmd) (sample, string, error) {
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	s := sample{wall: wall}
	if ps := cmd.ProcessState; ps != nil {
		// Not ru_maxrss: Go starts children with vfork semantics, so the
		// child's peak RSS includes this process's until the exec.
		s.cpu = ps.UserTime() + ps.SystemTime()
	}
	out := stdout.String()
	if err != nil {
		return s, out, fmt.Errorf("%s: %w: %s", shortCmd(cmd), err, lastLine(stderr.String()+" "+out))
	}
	return s, out, nil
}

// run runs cmd untimed and returns its stdout, or an error with its output.
func run(cmd *exec.Cmd) (string, error) {
	_, out, err := runTimed(cmd)
	return out, err
}

// shortCmd is the command line without the "ip netns exec NS" prefix.
func shortCmd(cmd *exec.Cmd) string {
	args := cmd.Args
	if len(args) > 4 && args[1] == "netns" && args[2] == "exec" {
		args = args[4:]
	}
	s := strings.Join(args, " ")
	if len(s) > 120 {
		s = s[:120] + "..."
	}
	return s
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}
