package portmap_test

import (
	"context"
	"fmt"
	"log"
	"net/netip"
	"time"

	"github.com/portmap-dev/portmap"
	"github.com/portmap-dev/portmap/portmaptest"
)

// exampleGateway starts the fake gateway of package portmaptest, which
// stands in for a router here; in a program, leave Options empty to use the
// default gateway.
func exampleGateway() (*portmaptest.Gateway, portmap.Options) {
	gw, err := portmaptest.Start(context.Background(), portmaptest.Config{})
	if err != nil {
		log.Fatal(err)
	}
	return gw, portmap.Options{Gateway: gw.Addr().Addr(), GatewayPort: gw.Addr().Port()}
}

// Open port 8080 of this host to the internet for an hour.
func Example() {
	gw, opts := exampleGateway()
	defer gw.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := portmap.Discover(ctx, opts) // opts: portmap.Options{} for the default gateway
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	m, err := c.Add(ctx, portmap.Request{InternalPort: 8080, Lifetime: time.Hour})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("protocol:", m.Protocol)
	fmt.Println("reachable at:", m.External)
	fmt.Println("forwarded to port:", m.Internal.Port())

	if err := c.Delete(ctx, m); err != nil {
		log.Fatal(err)
	}
	// Output:
	// protocol: pcp
	// reachable at: 11.77.0.1:8080
	// forwarded to port: 8080
}

// Keep a UDP mapping alive until the context ends: the keeper renews it,
// makes it again after a router reboot, and deletes it at the end.
func ExampleKeep() {
	gw, opts := exampleGateway()
	defer gw.Close()

	ctx, cancel := context.WithCancel(context.Background())
	c, err := portmap.Discover(ctx, opts)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	m, k, err := portmap.Keep(ctx, c, portmap.Request{Transport: portmap.UDP, InternalPort: 51413},
		portmap.KeeperOptions{OnEvent: func(e portmap.Event) { fmt.Println("event:", e.Kind) }})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("kept:", m.Transport, m.External.Port())

	cancel()   // the program is done with the port
	<-k.Done() // the mapping is deleted
	fmt.Println("mappings left in the router:", len(gw.Mappings()))
	// Output:
	// event: created
	// kept: udp 51413
	// event: deleted
	// mappings left in the router: 0
}

// Tell whether a mapping on the router can be reached from the internet.
func ExampleClassifyAddress() {
	for _, s := range []string{"11.77.0.1", "192.168.0.10", "100.70.1.2"} {
		k := portmap.ClassifyAddress(netip.MustParseAddr(s))
		fmt.Printf("%s: %s\n", s, k)
	}
	// Output:
	// 11.77.0.1: public
	// 192.168.0.10: private
	// 100.70.1.2: shared
}
