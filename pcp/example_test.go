package pcp_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/portmap-dev/portmap/pcp"
)

// serveOnce runs a minimal PCP server on conn (built on the package's
// codec) that grants every request with external address 198.51.100.1,
// until conn is closed.
func serveOnce(conn *net.UDPConn) {
	buf := make([]byte, pcp.MaxMessageLen)
	for {
		n, from, err := conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		req, err := pcp.ParseRequest(buf[:n])
		if err != nil {
			continue
		}
		resp := &pcp.Response{Opcode: req.Opcode, Result: pcp.Success, Lifetime: min(req.Lifetime, 3600), Epoch: 42,
			HasData: true, Data: req.Data}
		resp.Data.ExternalAddr = netip.MustParseAddr("198.51.100.1")
		if resp.Data.ExternalPort == 0 {
			resp.Data.ExternalPort = req.Data.InternalPort
		}
		b, _ := resp.MarshalBinary()
		conn.WriteToUDPAddrPort(b, from)
	}
}

// Map a TCP port, renew it and delete it. The server here is a local fake;
// a real program uses its gateway's address, e.g. 192.168.1.1:5351.
func Example() {
	conn, _ := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	defer conn.Close()
	go serveOnce(conn)

	c, err := pcp.NewClient(conn.LocalAddr().(*net.UDPAddr).AddrPort(), pcp.WithFirstTimeout(250*time.Millisecond))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	m, err := c.Map(ctx, pcp.MapRequest{
		Protocol:          pcp.TCP,
		InternalPort:      8080,
		SuggestedExternal: netip.AddrPortFrom(netip.Addr{}, 8080),
		Lifetime:          2 * time.Hour,
	})
	var ve *pcp.VersionError
	switch {
	case errors.As(err, &ve) && ve.ServerVersion == 0:
		fmt.Println("the gateway speaks only NAT-PMP: use package natpmp")
		return
	case err != nil:
		fmt.Println(err)
		return
	}
	fmt.Printf("%s %s -> internal port %d for %s\n", m.Protocol, m.External, m.InternalPort, m.Lifetime)

	m, err = c.Renew(ctx, m, 0) // same nonce, same external port
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("renewed:", m.External)
	fmt.Println("deleted:", c.Delete(ctx, m) == nil)
	// Output:
	// TCP 198.51.100.1:8080 -> internal port 8080 for 1h0m0s
	// renewed: 198.51.100.1:8080
	// deleted: true
}

// Listen for server reboots and unsolicited announcements.
func ExampleClient_ListenAnnouncements() {
	events := make(chan pcp.Event, 16)
	c, err := pcp.NewClient(netip.MustParseAddrPort("192.168.1.1:5351"),
		pcp.WithEventHandler(func(e pcp.Event) { events <- e }))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	go c.ListenAnnouncements(ctx) // 224.0.0.1:5350 and [ff02::1]:5350
	for {
		select {
		case e := <-events:
			if e.Kind == pcp.EventReboot && e.FromServer {
				fmt.Println("gateway restarted: recreate mappings with Renew")
			}
		case <-ctx.Done():
			return
		}
	}
}
