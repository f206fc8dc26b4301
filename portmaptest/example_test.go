package portmaptest_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/netip"
	"time"

	"github.com/portmap-dev/portmap/natpmp"
	"github.com/portmap-dev/portmap/portmaptest"
	"github.com/portmap-dev/portmap/upnp"
)

// A test points a NAT-PMP client at the fake gateway and checks what the
// gateway holds afterwards. In a test function, use
// portmaptest.NewGateway(t), which closes the gateway when the test ends.
func Example() {
	ctx := context.Background()
	gw, err := portmaptest.Start(ctx, portmaptest.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer gw.Close()

	c, err := natpmp.NewClient(gw.Addr())
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	m, err := c.Map(ctx, natpmp.TCP, 8080, 0, time.Hour)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("granted", m.ExternalPort, m.Lifetime)

	for _, e := range gw.Mappings() {
		fmt.Println(e.Protocol, e.Transport, e.ExternalPort, "->", e.InternalAddr, e.InternalPort)
	}
	// Output:
	// granted 8080 1h0m0s
	// natpmp TCP 8080 -> 127.0.0.1 8080
}

// A router that refuses the next mapping with 718 ConflictInMappingEntry,
// found by the UPnP client with a unicast search to the gateway's port.
func ExampleGateway_FailNext() {
	ctx := context.Background()
	gw, err := portmaptest.Start(ctx, portmaptest.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer gw.Close()

	igd, err := upnp.Discover(ctx, gw.DiscoverOptions())
	if err != nil {
		log.Fatal(err)
	}
	gw.FailNext("AddPortMapping", 718)
	pm := upnp.PortMapping{
		ExternalPort: 40000, Protocol: "TCP", InternalPort: 8080,
		InternalClient: netip.MustParseAddr("127.0.0.1"), Enabled: true,
		Description: "example", LeaseDuration: time.Hour,
	}
	err = igd.WAN.AddPortMapping(ctx, pm)
	fmt.Println(errors.Is(err, upnp.ErrConflictInMappingEntry))
	fmt.Println(igd.WAN.AddPortMapping(ctx, pm))
	fmt.Println(len(gw.RequestsFor("AddPortMapping")), "requests,", len(gw.Mappings()), "mapping")
	// Output:
	// true
	// <nil>
	// 2 requests, 1 mapping
}

// A reboot: the epoch starts again and the mappings are gone; the NAT-PMP
// client reports it on its Events channel.
func ExampleGateway_Reboot() {
	ctx := context.Background()
	gw, err := portmaptest.Start(ctx, portmaptest.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer gw.Close()
	c, err := natpmp.NewClient(gw.Addr())
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Map(ctx, natpmp.UDP, 5000, 0, time.Hour); err != nil {
		log.Fatal(err)
	}

	gw.Reboot()
	fmt.Println("BOOTID", gw.BootID(), "mappings", len(gw.Mappings()))
	if _, err := c.ExternalAddress(ctx); err != nil {
		log.Fatal(err)
	}
	for ev := range c.Events() {
		if ev.Reboot {
			fmt.Println("client saw the reboot")
			break
		}
	}
	// Output:
	// BOOTID 2 mappings 0
	// client saw the reboot
}
