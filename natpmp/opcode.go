package natpmp

import "strconv"

// Opcode is a NAT-PMP operation code. Replies carry the request's opcode
// plus [OpReply].
type Opcode uint8

// Opcodes defined by RFC 6886.
const (
	OpExternalAddress Opcode = 0   // request the external IPv4 address
	OpMapUDP          Opcode = 1   // create, renew or delete a UDP mapping
	OpMapTCP          Opcode = 2   // create, renew or delete a TCP mapping
	OpReply           Opcode = 128 // added to the request's opcode in replies
)

// String returns a readable name, e.g. "MapTCP" or "MapTCPReply".
func (o Opcode) String() string {
	suffix := ""
	base := o
	if o >= OpReply {
		suffix = "Reply"
		base = o - OpReply
	}
	switch base {
	case OpExternalAddress:
		return "ExternalAddress" + suffix
	case OpMapUDP:
		return "MapUDP" + suffix
	case OpMapTCP:
		return "MapTCP" + suffix
	}
	return "Opcode(" + strconv.Itoa(int(o)) + ")"
}

// request describes the operation in words for error messages.
func (o Opcode) request() string {
	switch o &^ OpReply {
	case OpExternalAddress:
		return "external address request"
	case OpMapUDP:
		return "map UDP"
	case OpMapTCP:
		return "map TCP"
	}
	return "opcode " + strconv.Itoa(int(o))
}

// Protocol is the transport protocol of a mapping.
type Protocol uint8

// Protocols; their values are the NAT-PMP mapping opcodes.
const (
	UDP = Protocol(OpMapUDP)
	TCP = Protocol(OpMapTCP)
)

// String returns "UDP", "TCP" or "Protocol(N)".
func (p Protocol) String() string {
	switch p {
	case UDP:
		return "UDP"
	case TCP:
		return "TCP"
	}
	return "Protocol(" + strconv.Itoa(int(p)) + ")"
}

// valid reports whether p is UDP or TCP.
func (p Protocol) valid() bool { return p == UDP || p == TCP }
