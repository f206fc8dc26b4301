package natpmp

import (
	"encoding/binary"
	"fmt"
)

// Version is the NAT-PMP version number carried in every packet.
const Version = 0

// Request sizes in bytes (RFC 6886 §3.2 and §3.3).
const (
	externalAddressRequestSize = 2
	mapRequestSize             = 12
)

// Request is a NAT-PMP request.
//
// For [OpExternalAddress] only Op is used. For [OpMapUDP] and [OpMapTCP],
// InternalPort, SuggestedExternalPort and Lifetime (seconds) are sent; a
// Lifetime of 0 deletes the mapping of InternalPort, and InternalPort 0 with
// Lifetime 0 deletes all the client's mappings of that protocol (RFC 6886
// §3.4).
type Request struct {
	Op                    Opcode
	InternalPort          uint16
	SuggestedExternalPort uint16
	Lifetime              uint32
}

// AppendBinary appends the wire form of r to b.
func (r Request) AppendBinary(b []byte) ([]byte, error) {
	switch r.Op {
	case OpExternalAddress:
		return append(b, Version, byte(r.Op)), nil
	case OpMapUDP, OpMapTCP:
		b = append(b, Version, byte(r.Op), 0, 0) // 16 reserved bits, zero
		b = binary.BigEndian.AppendUint16(b, r.InternalPort)
		b = binary.BigEndian.AppendUint16(b, r.SuggestedExternalPort)
		return binary.BigEndian.AppendUint32(b, r.Lifetime), nil
	}
	return b, fmt.Errorf("natpmp: cannot encode a request with opcode %d", uint8(r.Op))
}

// MarshalBinary returns the wire form of r.
func (r Request) MarshalBinary() ([]byte, error) {
	return r.AppendBinary(make([]byte, 0, mapRequestSize))
}

// ParseRequest decodes a request as a gateway receives it. It is strict
// about lengths: an external address request is exactly 2 bytes and a
// mapping request exactly 12.
//
// A request that a gateway must answer with an error gives a *[ResultError]:
// code [ResultUnsupportedVersion] when the version is not 0 (answer with
// [UnsupportedVersionResponse]), code [ResultUnsupportedOpcode] for opcodes
// 3 to 127. Anything else that does not decode wraps [ErrMalformed] and must
// be ignored (this includes replies, opcodes 128 and up).
func ParseRequest(b []byte) (Request, error) {
	if len(b) < 2 {
		return Request{}, fmt.Errorf("%w: request of %d bytes", ErrMalformed, len(b))
	}
	op := Opcode(b[1])
	if op >= OpReply {
		return Request{}, fmt.Errorf("%w: opcode %d is a reply, not a request", ErrMalformed, b[1])
	}
	if b[0] != Version {
		return Request{}, &ResultError{Code: ResultUnsupportedVersion, Op: op}
	}
	switch op {
	case OpExternalAddress:
		if len(b) != externalAddressRequestSize {
			return Request{}, fmt.Errorf("%w: external address request of %d bytes, want %d", ErrMalformed, len(b), externalAddressRequestSize)
		}
		return Request{Op: op}, nil
	case OpMapUDP, OpMapTCP:
		if len(b) != mapRequestSize {
			return Request{}, fmt.Errorf("%w: mapping request of %d bytes, want %d", ErrMalformed, len(b), mapRequestSize)
		}
		// Bytes 2-3 are reserved: ignored on reception (RFC 6886 §3.3).
		return Request{
			Op:                    op,
			InternalPort:          binary.BigEndian.Uint16(b[4:]),
			SuggestedExternalPort: binary.BigEndian.Uint16(b[6:]),
			Lifetime:              binary.BigEndian.Uint32(b[8:]),
		}, nil
	}
	return Request{}, &ResultError{Code: ResultUnsupportedOpcode, Op: op}
}
