package pcp

import "strconv"

// Opcode is the operation of a PCP message (RFC 6887 §7.1, §19.2).
type Opcode uint8

// Opcodes defined by RFC 6887.
const (
	OpAnnounce Opcode = 0 // ANNOUNCE (§14.1): ask for or announce the server's epoch
	OpMap      Opcode = 1 // MAP (§11): inbound mapping or firewall pinhole
	OpPeer     Opcode = 2 // PEER (§12): outbound mapping toward one remote peer
)

// String returns the RFC name ("ANNOUNCE", "MAP", "PEER") or "Opcode(N)".
func (o Opcode) String() string {
	switch o {
	case OpAnnounce:
		return "ANNOUNCE"
	case OpMap:
		return "MAP"
	case OpPeer:
		return "PEER"
	}
	return "Opcode(" + strconv.Itoa(int(o)) + ")"
}

// Protocol is an IANA transport protocol number as carried in MAP and PEER
// requests. Zero means all protocols (then the internal port must be 0).
type Protocol uint8

// Protocols a PCP client commonly maps.
const (
	ProtocolAll Protocol = 0   // all protocols (§11.1)
	TCP         Protocol = 6   // TCP
	UDP         Protocol = 17  // UDP
	SCTP        Protocol = 132 // SCTP (PREFER_FAILURE is implied, §11.1)
	DCCP        Protocol = 33  // DCCP
)

// String returns "TCP", "UDP", "SCTP", "DCCP", "all" or "Protocol(N)".
func (p Protocol) String() string {
	switch p {
	case ProtocolAll:
		return "all"
	case TCP:
		return "TCP"
	case UDP:
		return "UDP"
	case SCTP:
		return "SCTP"
	case DCCP:
		return "DCCP"
	}
	return "Protocol(" + strconv.Itoa(int(p)) + ")"
}
