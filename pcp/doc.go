// Package pcp is a client and wire codec for the Port Control Protocol,
// RFC 6887: the successor of NAT-PMP, and the one of the three port-mapping
// protocols that maps for IPv6 (firewall pinholes) and reaches carrier-grade
// NATs.
//
// A [Client] talks to one server:
//
//   - [Client.Map] creates an inbound mapping (MAP, §11) with a suggested
//     external address and port and a lifetime; the granted values may
//     differ and are reported in the [Mapping]. Over IPv6, to the gateway's
//     IPv6 address, MAP opens a firewall pinhole. [Client.Renew] and
//     [Client.Delete] (lifetime 0) reuse the mapping's random 96-bit nonce,
//     as servers require. [Client.Peer] creates PEER mappings (§12),
//     [Client.Announce] sends an ANNOUNCE probe (§14.1), and
//     [Client.ExternalAddress] learns the external IPv4 address with a
//     short-lived MAP (PCP has no request for it).
//   - Options THIRD_PARTY, PREFER_FAILURE and FILTER are supported
//     ([Options]); unknown options in responses are ignored.
//   - Every call takes a context. Requests are retransmitted as §8.1.1 says
//     (IRT 3 s randomised by ±10%, doubling up to MRT 1024 s, unbounded
//     count) until the context ends; [WithFirstTimeout] shortens the first
//     wait for interactive use and [WithRetransmit] changes the policy.
//   - Responses are validated as §8.3 says (source address and port, length
//     24 to 1100 and a multiple of 4, R bit, version, opcode) and matched on
//     opcode, nonce, protocol and internal port (and remote peer for PEER).
//   - The server's epoch is validated on every response (§8.5), per server;
//     a failure means the server lost its mappings and is reported as an
//     [EventReboot]. Unsolicited ANNOUNCE and MAP responses — multicast to
//     224.0.0.1:5350 and [ff02::1]:5350, received by
//     [Client.ListenAnnouncements], or sent to the client's socket — are
//     delivered to the handler of [WithEventHandler].
//   - An error response is a [*ResultError] carrying the result code and its
//     RFC name (ADDRESS_MISMATCH reads "there is another NAT between you and
//     the PCP server"). The client then refuses to repeat the same request
//     during the error's hold-down (the server's error lifetime, at most
//     30 s for short-lifetime errors and 30 min for long-lifetime ones),
//     returning the same error at once; see [ResultError.Until].
//
// # Version negotiation and NAT-PMP fallback
//
// A server that does not speak PCP version 2 answers UNSUPP_VERSION; a
// NAT-PMP-only server answers with NAT-PMP's 8-byte "unsupported version"
// reply (version 0, result 1), which is recognised too. Either way the call
// returns at once, without retransmission, a [*VersionError] whose
// ServerVersion is the server's version (0 for NAT-PMP), and
// errors.Is(err, ErrUnsupportedVersion) holds. The failure is not cached:
// the next request tries PCP first again (RFC 6887 §9). This package does
// not fall back by itself: to keep the protocol packages independent, the
// caller (the root package portmap) switches to package natpmp on a
// VersionError with ServerVersion 0, at discovery and on any later call.
// A reply that cannot name its request (UNSUPP_VERSION of another version,
// or a header-only error such as MALFORMED_REQUEST, which echoes no nonce)
// ends every waiting call it may answer.
//
// # Codec
//
// [Request], [Response], [ParseRequest] and [ParseResponse] are exported so
// that test servers (portmaptest) use the same code as the client.
// Addresses are carried as IPv4-mapped IPv6 addresses on the wire and as
// plain IPv4 [netip.Addr] values in the API.
//
// # Notes from testing against miniupnpd 2.3.1
//
// The e2e tests (e2e/pcp_test.go) run against miniupnpd 2.3.1 with the
// nftables backend. It clamps lifetimes to 120 s .. 86400 s; it gives
// lifetime 0 with long-lifetime errors (so they are not held down) and 30 s
// with short ones. It refuses to delete a mapping with another nonce
// (NOT_AUTHORIZED) and answers NO_RESOURCES to the deletion of a mapping it
// does not have (e.g. lost in a reboot). Over IPv6 a MAP opens a firewall
// pinhole whose external address and port are the internal ones; but once
// a pinhole has been renewed it can no longer be deleted (NOT_AUTHORIZED):
// [Client.Delete] then cuts its lifetime to the minimum and returns
// [ErrLifetimeCut]. When it updates a pinhole it echoes the suggested
// external port, 0 if none was suggested; the client reports the internal
// port. It accepts PEER, but writes the SNAT rule with the internal and
// remote ports swapped and cannot delete it (NO_RESOURCES). It accepts
// FILTER without enforcing it, refuses THIRD_PARTY unless configured to
// allow it (UNSUPP_OPTION), and multicasts an unsolicited ANNOUNCE on
// 224.0.0.1:5350 and [ff02::1]:5350 (from its link-local address) when it
// starts; a client that hears a link-local sender on its server's link asks
// its server with an ANNOUNCE, so an IPv6-only client notices the restart
// too (see [Event].FromServer). Under load it can answer later than a 250 ms first timeout; the
// late answers to retransmissions share the mapping's nonce with the next
// request, so a successful answer is matched only to a request of the same
// kind (deletion: lifetime 0; creation or renewal: lifetime > 0).
package pcp
