package natpmp_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/portmap-dev/portmap/natpmp"
)

// startGateway runs a tiny NAT-PMP gateway on loopback for the examples:
// it grants every mapping as asked and reports 203.0.113.5 as its external
// address.
func startGateway() (netip.AddrPort, func()) {
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		panic(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 64)
		for {
			n, from, err := conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			req, err := natpmp.ParseRequest(buf[:n])
			if err != nil {
				continue
			}
			resp := natpmp.Response{Op: req.Op | natpmp.OpReply, Epoch: 1234}
			if req.Op == natpmp.OpExternalAddress {
				resp.ExternalAddr = netip.MustParseAddr("203.0.113.5")
			} else {
				resp.InternalPort, resp.ExternalPort, resp.Lifetime = req.InternalPort, req.SuggestedExternalPort, req.Lifetime
			}
			b, _ := resp.MarshalBinary()
			conn.WriteToUDPAddrPort(b, from)
		}
	}()
	return conn.LocalAddr().(*net.UDPAddr).AddrPort(), func() { conn.Close(); <-done }
}

func Example() {
	gw, stop := startGateway() // a real program uses the default gateway, port 5351
	defer stop()

	client, err := natpmp.NewClient(gw)
	if err != nil {
		panic(err)
	}
	defer client.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ext, err := client.ExternalAddress(ctx)
	if err != nil {
		panic(err)
	}
	m, err := client.Map(ctx, natpmp.TCP, 8080, 18080, 2*time.Hour)
	if err != nil {
		var re *natpmp.ResultError
		if errors.As(err, &re) {
			fmt.Println("refused:", re.Code)
		}
		panic(err)
	}
	fmt.Printf("%v:%d -> this host:%d/%v for %v\n", ext.Addr, m.ExternalPort, m.InternalPort, m.Protocol, m.Lifetime)
	if err := client.Delete(ctx, natpmp.TCP, 8080); err != nil {
		panic(err)
	}
	// Output: 203.0.113.5:18080 -> this host:8080/TCP for 2h0m0s
}

func ExampleClient_Events() {
	gw, stop := startGateway()
	defer stop()
	client, err := natpmp.NewClient(gw, natpmp.WithInitialTimeout(100*time.Millisecond))
	if err != nil {
		panic(err)
	}
	defer client.Close()

	// Follow the gateway: when it reboots, its mappings are gone and must
	// be created again.
	go func() {
		for ev := range client.Events() { // closed by client.Close
			if ev.Reboot {
				fmt.Println("gateway rebooted: map again")
			}
			if ev.AddressChanged {
				fmt.Println("new external address:", ev.ExternalAddr)
			}
		}
	}()
	ctx := context.Background()
	if err := client.ListenAnnouncements(ctx); err != nil { // 224.0.0.1:5350
		fmt.Println(err)
	}
	if _, err := client.Map(ctx, natpmp.UDP, 5000, 5000, time.Hour); err != nil {
		fmt.Println(err)
	}
}
