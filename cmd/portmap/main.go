// Command portmap opens ports on routers with UPnP IGD, NAT-PMP and PCP.
// See the README for its commands.
package main

import (
	"fmt"
	"os"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "devel"

func main() {
	if len(os.Args) > 1 && os.Args[1] == "version" {
		fmt.Println("portmap", version)
		return
	}
	fmt.Fprintln(os.Stderr, "usage: portmap version")
	os.Exit(2)
}
