// Package portmaptest runs a fake home-router gateway in the test process,
// the way net/http/httptest runs a fake web server: clients under test talk
// to it over loopback with the real protocols, and the test steers it with
// knobs.
//
// The gateway speaks UPnP IGD (v2 by default, or v1), NAT-PMP (RFC 6886)
// and PCP (RFC 6887), sharing one table of port mappings and one of IPv6
// firewall pinholes. It is built on the codecs of packages natpmp, pcp
// and upnp, so that client and fake agree by construction; its UPnP replies
// are modelled on miniupnpd 2.3.1 (the gateway of the project's end-to-end
// tests), whose real replies are kept in upnp/testdata.
//
// # One port for everything
//
// A gateway listens on one UDP socket, 127.0.0.1:P by default with a free
// port P, and tells the protocols apart by the first byte of each datagram:
// 0 is NAT-PMP (version 0), an "M-SEARCH * HTTP/1.1" text is an SSDP search,
// anything else is handed to PCP (version 2; other versions are answered
// UNSUPP_VERSION). It serves HTTP (device description, SOAP control, GENA
// events) on TCP at the same address and port number. A client given
// Gateway.GatewayFlag ("127.0.0.1:P") therefore sends NAT-PMP, PCP and
// unicast SSDP to P:
//
//	gw := portmaptest.NewGateway(t)
//	nat, _ := natpmp.NewClient(gw.Addr())
//	igd, _ := upnp.Discover(ctx, gw.DiscoverOptions())
//
// # Knobs
//
// Gateway.Reboot resets the NAT-PMP/PCP epoch, increments the UPnP BOOTID,
// forgets every mapping, pinhole and event subscription and sends
// announcements; Gateway.SetExternalIP changes the external address and
// announces it (NAT-PMP announcements, unsolicited PCP MAP responses, GENA
// events). Gateway.FailNext and Gateway.FailAlways inject an error code
// (or Drop, no answer at all) into one action; Gateway.SetDelay delays every
// reply; Gateway.DropNext and Gateway.SetDropRate lose UDP requests.
// Gateway.Requests returns what the gateway received, Gateway.Mappings and
// Gateway.Pinholes what it holds. Config selects the flavour of router: NAT-PMP
// only, UPnP only, IGD v1, permanent leases only (error 725), secure mode,
// a port range, and so on.
//
// # Safety
//
// The gateway binds loopback unless Config.AllowNonLoopback is set, never
// sends anything to a multicast group (announcements go only to the
// addresses in Config.AnnounceAddrs), sends GENA events only to the
// subscriber's own address, and bounds every read. Its external address is
// a made-up value (DefaultExternalIP) that never leaves the process.
package portmaptest
