package pcp

import (
	"net/netip"
)

// Wire constants of RFC 6887.
const (
	// Version is the PCP version this package speaks (RFC 6887).
	Version = 2
	// ServerPort is the UDP port PCP servers listen on (§19.1).
	ServerPort = 5351
	// ClientPort is the UDP port unsolicited responses (ANNOUNCE, MAP
	// updates) are multicast to (§19.1).
	ClientPort = 5350
	// HeaderLen is the length of the common request and response header.
	HeaderLen = 24
	// MaxMessageLen is the largest valid PCP message (§7).
	MaxMessageLen = 1100

	mapDataLen  = 36 // MAP opcode-specific data (§11.1)
	peerDataLen = 56 // PEER opcode-specific data (§12.1)
	responseBit = 0x80
)

// dataLen returns the length of op's opcode-specific data, or -1 for an
// opcode this package does not know.
func dataLen(op Opcode) int {
	switch op {
	case OpAnnounce:
		return 0
	case OpMap:
		return mapDataLen
	case OpPeer:
		return peerDataLen
	}
	return -1
}

// MapData is the opcode-specific data of MAP and PEER (RFC 6887 §11.1,
// §12.1); ANNOUNCE has none.
type MapData struct {
	Nonce        Nonce
	Protocol     Protocol
	InternalPort uint16
	// ExternalPort and ExternalAddr are the suggested values in a request
	// (0 and 0.0.0.0 or :: for "no preference") and the assigned ones in a
	// response. The address family of ExternalAddr in a request chooses the
	// family of the mapping: 0.0.0.0 for IPv4 (NAT44), :: for IPv6.
	ExternalPort uint16
	ExternalAddr netip.Addr
	// RemotePort and RemoteAddr are the remote peer (PEER only).
	RemotePort uint16
	RemoteAddr netip.Addr
}

func (d *MapData) append(b []byte, op Opcode) []byte {
	n := dataLen(op)
	if n <= 0 {
		return b
	}
	start := len(b)
	b = append(b, make([]byte, n)...)
	p := b[start:]
	copy(p[0:12], d.Nonce[:])
	p[12] = byte(d.Protocol)
	// p[13:16] reserved
	p[16], p[17] = byte(d.InternalPort>>8), byte(d.InternalPort)
	p[18], p[19] = byte(d.ExternalPort>>8), byte(d.ExternalPort)
	putAddr(p[20:36], d.ExternalAddr)
	if op == OpPeer {
		p[36], p[37] = byte(d.RemotePort>>8), byte(d.RemotePort)
		// p[38:40] reserved
		putAddr(p[40:56], d.RemoteAddr)
	}
	return b
}

func parseMapData(p []byte, op Opcode) MapData {
	d := MapData{
		Nonce:        Nonce(p[0:12]),
		Protocol:     Protocol(p[12]),
		InternalPort: uint16(p[16])<<8 | uint16(p[17]),
		ExternalPort: uint16(p[18])<<8 | uint16(p[19]),
		ExternalAddr: getAddr(p[20:36]),
	}
	if op == OpPeer {
		d.RemotePort = uint16(p[36])<<8 | uint16(p[37])
		d.RemoteAddr = getAddr(p[40:56])
	}
	return d
}

// DecodeError describes why a message was rejected. It wraps
// [ErrMalformed]. Code is the result code a server should answer a request
// with (e.g. MALFORMED_REQUEST, UNSUPP_VERSION, MALFORMED_OPTION); for
// responses it only classifies the fault.
type DecodeError struct {
	Code   ResultCode
	Reason string
}

// Error returns e.g. "pcp: malformed message: length 26 is not a multiple of 4".
func (e *DecodeError) Error() string { return ErrMalformed.Error() + ": " + e.Reason }

// Unwrap returns [ErrMalformed].
func (e *DecodeError) Unwrap() error { return ErrMalformed }

func decodeErr(c ResultCode, reason string) error { return &DecodeError{Code: c, Reason: reason} }
