//go:build !linux

package main

import (
	"fmt"
	"os"
)

// The benchmark needs Linux: network namespaces, nftables, miniupnpd.
func main() {
	fmt.Fprintln(os.Stderr, "bench: needs Linux (network namespaces, miniupnpd); see bench/README.md")
	os.Exit(2)
}
