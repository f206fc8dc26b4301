//go:build linux

package testbed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"testing"
	"time"
)

// envTestbed carries the testbed description to the test binary running in
// the LAN namespace.
const envTestbed = "PORTMAP_TESTBED"

var (
	current     *Testbed // set in the re-executed binary
	unavailable error    // why there is no testbed, outside CI
)

// InCI reports whether the tests run in CI (CI=true), where a testbed that
// cannot be built fails the run instead of skipping.
func InCI() bool { return os.Getenv("CI") == "true" }

// Main is for TestMain of an end-to-end test package:
//
//	func TestMain(m *testing.M) { testbed.Main(m) }
//
// As root it builds a testbed, runs the test binary again inside the LAN
// namespace with the same arguments, removes the testbed and exits with the
// tests' status. Without root or the tools, the tests run here and skip
// (under CI=true Main fails at once instead).
func Main(m *testing.M) {
	if desc := os.Getenv(envTestbed); desc != "" {
		current = new(Testbed)
		if err := json.Unmarshal([]byte(desc), current); err != nil {
			fmt.Fprintf(os.Stderr, "testbed: bad %s: %v\n", envTestbed, err)
			os.Exit(2)
		}
		os.Exit(m.Run())
	}
	if err := Prerequisites(); err != nil {
		if InCI() {
			fmt.Fprintf(os.Stderr, "FAIL: %v (CI=true: end-to-end tests must run)\n", err)
			os.Exit(1)
		}
		unavailable = err
		os.Exit(m.Run())
	}
	os.Exit(runInside())
}

// runInside builds the testbed and runs this binary in its LAN namespace.
func runInside() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	tb, err := Up(ctx, Options{})
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: %v\n", err)
		return 1
	}
	defer func() {
		if err := tb.Close(); err != nil {
			fmt.Fprintf(os.Stderr, "testbed teardown: %v\n", err)
		}
	}()
	fmt.Fprintf(os.Stderr, "testbed %s up in %v (miniupnpd at %s, WAN %s)\n", tb.Name, time.Since(start).Round(time.Millisecond), tb.GatewayLAN, tb.WAN)
	desc, err := json.Marshal(tb)
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: testbed: %v\n", err)
		return 1
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: testbed: %v\n", err)
		return 1
	}
	cmd := exec.Command("ip", append([]string{"netns", "exec", tb.lanNS(), self}, os.Args[1:]...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), envTestbed+"="+string(desc))
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: testbed: %v\n", err)
		return 1
	}
	// A signal to this process goes on to the tests, which then end and
	// let the testbed be removed.
	go func() {
		<-ctx.Done()
		cmd.Process.Signal(syscall.SIGTERM)
	}()
	err = cmd.Wait()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exit) && exit.ExitCode() > 0:
		return exit.ExitCode()
	default:
		fmt.Fprintf(os.Stderr, "FAIL: testbed: tests in the LAN namespace: %v\n", err)
		return 1
	}
}

// Get returns the testbed the test runs in. Outside one it skips the test
// with the reason, or fails it under CI=true.
func Get(t testing.TB) *Testbed {
	t.Helper()
	if current != nil {
		current.guard(t)
		return current
	}
	reason := unavailable
	if reason == nil {
		reason = errors.New("testbed: the test package's TestMain does not call testbed.Main")
	}
	if InCI() {
		t.Fatalf("%v (CI=true: end-to-end tests must run)", reason)
	}
	t.Skipf("%v", reason)
	return nil
}

// guard keeps one test's crash of the gateway daemon from failing the tests
// after it: a daemon found dead is started again (and the test is told),
// and a test during which the daemon dies fails, with the daemon's last
// words.
func (tb *Testbed) guard(t testing.TB) {
	t.Helper()
	if !tb.GatewayAlive() {
		t.Logf("testbed: miniupnpd was not running (%s); starting it again", lastLines(tb.readLog(), 3))
		ctx, cancel := testContext(t)
		defer cancel()
		if err := tb.startGateway(ctx); err != nil {
			t.Fatal(err)
		}
	}
	starts := tb.Starts
	t.Cleanup(func() {
		if tb.Starts == starts && !tb.GatewayAlive() {
			t.Errorf("testbed: miniupnpd died during this test: %s", lastLines(tb.readLog(), 5))
		}
	})
}

func (tb *Testbed) readLog() string {
	b, _ := os.ReadFile(tb.LogFile())
	return string(b)
}
