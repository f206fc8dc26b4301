//go:build linux

package testbed

import (
	"os"
	"testing"
	"time"
)

func TestProcessStart(t *testing.T) {
	start, ok := processStart(os.Getpid())
	if !ok {
		t.Fatal("no start time for this process")
	}
	// This test binary started a moment ago.
	if age := time.Since(start); age < -2*time.Second || age > 10*time.Minute {
		t.Errorf("start time %v, %v ago", start, age)
	}
	if !ownerAlive(os.Getpid(), time.Now()) {
		t.Error("ownerAlive: this process, for something made now")
	}
	if ownerAlive(os.Getpid(), start.Add(-time.Hour)) {
		t.Error("ownerAlive: a process that started after the thing was made (a reused pid)")
	}
}
