package upnp_test

import (
	"context"
	"fmt"
	"log"
	"net/netip"
	"time"

	"github.com/portmap-dev/portmap/upnp"
)

// Discover the gateway's IGD: unicast and multicast searches go out at
// once and the first usable answer wins. The gateway address comes from
// the caller (package upnp does not detect the default gateway). With a
// cache, the next run skips the search.
func ExampleDiscover() {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	opts := upnp.DiscoverOptions{Gateway: netip.MustParseAddr("192.168.1.1")}
	if path, err := upnp.DefaultCachePath(); err == nil {
		opts.Cache = upnp.NewFileCache(path)
	}
	igd, err := upnp.Discover(ctx, opts)
	if err != nil {
		log.Fatal(err)
	}
	ip, err := igd.WAN.GetExternalIPAddress(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(igd.FriendlyName, igd.WAN.Service.Type, ip)
}

// Follow the WAN connection's events, e.g. to notice a new external
// address.
func ExampleSubscribe() {
	ctx := context.Background()
	igd, err := upnp.Discover(ctx, upnp.DiscoverOptions{Gateway: netip.MustParseAddr("192.168.1.1")})
	if err != nil {
		log.Fatal(err)
	}
	sub, err := upnp.Subscribe(ctx, igd.WAN.Service, upnp.SubscribeOptions{})
	if err != nil {
		log.Fatal(err)
	}
	defer sub.Close()
	for ev := range sub.Events() {
		if ip, ok := ev.Value("ExternalIPAddress"); ok {
			fmt.Println("external address:", ip)
		}
	}
	log.Println("subscription ended:", sub.Err())
}

func ExampleParseSearchResponse() {
	r, err := upnp.ParseSearchResponse([]byte("HTTP/1.1 200 OK\r\n" +
		"CACHE-CONTROL: max-age=120\r\n" +
		"ST: urn:schemas-upnp-org:device:InternetGatewayDevice:2\r\n" +
		"USN: uuid:3b4c1d3a-7f1e-4e8e-9a1a-0123456789ab::urn:schemas-upnp-org:device:InternetGatewayDevice:2\r\n" +
		"EXT:\r\n" +
		"SERVER: Debian/6.18.44 UPnP/1.1 MiniUPnPd/2.3.1\r\n" +
		"location:http://10.77.0.1:5000/rootDesc.xml\r\n" + // tolerated: case, no space
		"BOOTID.UPNP.ORG: 1795305623\r\n\r\n"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(r.Location)
	fmt.Println(r.UUID(), r.MaxAge, r.BootID)
	// Output:
	// http://10.77.0.1:5000/rootDesc.xml
	// uuid:3b4c1d3a-7f1e-4e8e-9a1a-0123456789ab 2m0s 1795305623
}

func ExampleParsePropertySet() {
	props, err := upnp.ParsePropertySet([]byte(`<e:propertyset xmlns:e="urn:schemas-upnp-org:event-1-0">` +
		`<e:property><ConnectionStatus>Connected</ConnectionStatus></e:property>` +
		`<e:property><ExternalIPAddress>11.77.0.1</ExternalIPAddress></e:property>` +
		`</e:propertyset>`))
	if err != nil {
		log.Fatal(err)
	}
	for _, p := range props {
		fmt.Printf("%s=%s\n", p.Name, p.Value)
	}
	// Output:
	// ConnectionStatus=Connected
	// ExternalIPAddress=11.77.0.1
}

func ExampleBootTracker() {
	var bt upnp.BootTracker
	alive := func(bootID int64) *upnp.Notify {
		return &upnp.Notify{NT: upnp.STRootDevice, NTS: upnp.NTSAlive, USN: "uuid:gw::upnp:rootdevice", BootID: bootID}
	}
	fmt.Println(bt.Observe(alive(1795305623))) // first sight
	fmt.Println(bt.Observe(alive(1795305623))) // periodic re-announcement
	fmt.Println(bt.Observe(alive(1795307132))) // new BOOTID: the gateway rebooted
	// Output:
	// false
	// false
	// true
}
