package pcp

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// Request is a PCP request (RFC 6887 §7.1) with its opcode-specific data
// and options. [Client] builds them; test servers decode them with
// [ParseRequest].
type Request struct {
	// Version is the protocol version; 0 is encoded as [Version] (2).
	Version uint8
	Opcode  Opcode
	// Lifetime is the requested lifetime in seconds; 0 deletes a mapping.
	Lifetime uint32
	// ClientAddr is the PCP Client's IP Address field: the address the
	// request is sent from. The server compares it with the packet's source
	// and answers ADDRESS_MISMATCH when they differ (a NAT in between).
	ClientAddr netip.Addr
	// Data is the MAP or PEER data (ignored for ANNOUNCE).
	Data    MapData
	Options Options
}

// AppendBinary appends the encoded request to b.
func (r *Request) AppendBinary(b []byte) ([]byte, error) {
	n := dataLen(r.Opcode)
	if n < 0 || r.Opcode > 127 {
		return nil, fmt.Errorf("%w: unknown opcode %d", ErrInvalidRequest, r.Opcode)
	}
	if r.Data.Protocol == ProtocolAll && r.Data.InternalPort != 0 && n > 0 {
		return nil, fmt.Errorf("%w: protocol 0 (all) needs internal port 0", ErrInvalidRequest)
	}
	size := HeaderLen + n + r.Options.len()
	if size > MaxMessageLen {
		return nil, fmt.Errorf("%w: %d bytes exceeds %d", ErrInvalidRequest, size, MaxMessageLen)
	}
	v := r.Version
	if v == 0 {
		v = Version
	}
	start := len(b)
	b = append(b, make([]byte, HeaderLen)...)
	h := b[start:]
	h[0] = v
	h[1] = byte(r.Opcode)
	binary.BigEndian.PutUint32(h[4:8], r.Lifetime)
	putAddr(h[8:24], r.ClientAddr)
	b = r.Data.append(b, r.Opcode)
	return r.Options.append(b)
}

// MarshalBinary encodes the request.
func (r *Request) MarshalBinary() ([]byte, error) { return r.AppendBinary(nil) }

// ParseRequest decodes and validates a request as a server does (RFC 6887
// §8.2). An error is a [*DecodeError] whose Code is the result code to
// answer with; Code [Success] means "do not answer" (the message is a
// response). On error the returned Request holds what could be decoded
// (nil if not even the header could).
func ParseRequest(b []byte) (*Request, error) {
	if len(b) < HeaderLen {
		return nil, decodeErr(MalformedRequest, fmt.Sprintf("length %d < %d", len(b), HeaderLen))
	}
	if b[1]&responseBit != 0 {
		return nil, decodeErr(Success, "R bit set: a response, not a request")
	}
	r := &Request{
		Version:    b[0],
		Opcode:     Opcode(b[1]),
		Lifetime:   binary.BigEndian.Uint32(b[4:8]),
		ClientAddr: getAddr(b[8:24]),
	}
	if len(b) > MaxMessageLen {
		return r, decodeErr(MalformedRequest, fmt.Sprintf("length %d > %d", len(b), MaxMessageLen))
	}
	if len(b)%4 != 0 {
		return r, decodeErr(MalformedRequest, fmt.Sprintf("length %d is not a multiple of 4", len(b)))
	}
	if r.Version != Version {
		return r, decodeErr(UnsuppVersion, fmt.Sprintf("version %d", r.Version))
	}
	n := dataLen(r.Opcode)
	if n < 0 {
		return r, decodeErr(UnsuppOpcode, "opcode "+r.Opcode.String())
	}
	if len(b) < HeaderLen+n {
		return r, decodeErr(MalformedRequest, fmt.Sprintf("%s request of %d bytes, want at least %d", r.Opcode, len(b), HeaderLen+n))
	}
	if n > 0 {
		r.Data = parseMapData(b[HeaderLen:], r.Opcode)
		if r.Data.Protocol == ProtocolAll && r.Data.InternalPort != 0 {
			return r, decodeErr(MalformedRequest, "protocol 0 (all) with internal port "+fmt.Sprint(r.Data.InternalPort))
		}
	}
	opts, err := parseOptions(b[HeaderLen+n:])
	r.Options = opts
	if err != nil {
		return r, err
	}
	if err := r.Options.check(r.Opcode); err != nil {
		return r, err
	}
	return r, nil
}
