// Package natpmp is a client (and wire codec) for the NAT Port Mapping
// Protocol, RFC 6886.
//
// A [Client] talks to one gateway. It asks for the gateway's external IPv4
// address ([Client.ExternalAddress]), creates, renews and deletes port
// mappings ([Client.Map], [Client.Renew], [Client.Delete], [Client.DeleteAll])
// and follows the rules of the RFC that simple clients skip:
//
//   - every call takes a [context.Context]; requests are retransmitted after
//     250 ms, doubling the wait each time, up to 9 tries (RFC 6886 §3.1),
//     unless the context ends first;
//   - an ICMP port unreachable from the gateway ("connection refused") ends
//     the call at once with [ErrNotSupported]: nothing speaks NAT-PMP there;
//   - replies are accepted only from the gateway's address and port and are
//     matched on opcode and internal port;
//   - only one request is outstanding per gateway at any time, in this
//     process; concurrent calls are queued in arrival order;
//   - the gateway's epoch (seconds since start of epoch) is checked on every
//     reply and announcement, and a reboot of the gateway (its mappings are
//     lost) is reported on [Client.Events] (RFC 6886 §3.6);
//   - unsolicited external-address announcements sent to 224.0.0.1:5350 are
//     received with [Client.ListenAnnouncements] or [ListenAnnouncements]
//     (RFC 6886 §3.2.1), accepted only from the gateway.
//
// The codec ([Request], [Response], [ParseRequest], [ParseResponse]) is
// exported so that test gateways can be built on the same code.
//
// Errors can be inspected with errors.Is and errors.As: a result code other
// than success is a [*ResultError]; [ErrNotSupported], [ErrTimeout],
// [ErrMalformed] and [ErrClosed] are sentinels.
package natpmp
