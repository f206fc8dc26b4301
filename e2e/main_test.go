//go:build linux

// Package e2e holds the end-to-end tests: they run against a real
// miniupnpd in network namespaces built by internal/testbed.
package e2e

import (
	"testing"

	"github.com/portmap-dev/portmap/internal/testbed"
)

func TestMain(m *testing.M) { testbed.Main(m) }
