package netinfo_test

import (
	"fmt"

	"github.com/portmap-dev/portmap/internal/netinfo"
)

// The router to ask for port mappings, and this host's address toward it
// (the internal client of a mapping).
func Example() {
	gw, err := netinfo.DefaultGateway()
	if err != nil {
		fmt.Println(err)
		return
	}
	local, err := netinfo.LocalAddr(gw) // sends nothing
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("gateway", gw, "from", local)
}
