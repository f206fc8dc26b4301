package pcp

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// Response is a PCP response (RFC 6887 §7.2), solicited or not.
type Response struct {
	// Version is the server's version: 2, or the version it speaks when
	// Result is UNSUPP_VERSION (0 for a NAT-PMP server's reply).
	Version uint8
	Opcode  Opcode
	Result  ResultCode
	// Lifetime is the granted lifetime in seconds (SUCCESS) or how long the
	// error is expected to last (other results).
	Lifetime uint32
	// Epoch is the server's Epoch Time: seconds since its state began.
	Epoch uint32
	// HasData is true when the MAP or PEER data is present: always in a
	// SUCCESS response; error responses usually echo it.
	HasData bool
	Data    MapData
	Options Options
}

// AppendBinary appends the encoded response to b (for test servers). A
// Version of 0 is encoded as [Version] unless Result is UNSUPP_VERSION, in
// which case the 8-byte NAT-PMP "unsupported version" reply is written.
// Data is written when HasData is set or Result is SUCCESS.
func (r *Response) AppendBinary(b []byte) ([]byte, error) {
	if r.Version == 0 && r.Result == UnsuppVersion {
		b = append(b, 0, responseBit|byte(r.Opcode), 0, 1, 0, 0, 0, 0)
		binary.BigEndian.PutUint32(b[len(b)-4:], r.Epoch)
		return b, nil
	}
	n := dataLen(r.Opcode)
	if n < 0 || r.Opcode > 127 {
		return nil, fmt.Errorf("%w: unknown opcode %d", ErrInvalidRequest, r.Opcode)
	}
	withData := r.HasData || r.Result == Success
	size := HeaderLen + r.Options.len()
	if withData {
		size += n
	}
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
	h[1] = responseBit | byte(r.Opcode)
	h[3] = byte(r.Result)
	binary.BigEndian.PutUint32(h[4:8], r.Lifetime)
	binary.BigEndian.PutUint32(h[8:12], r.Epoch)
	if withData {
		b = r.Data.append(b, r.Opcode)
	}
	return r.Options.append(b)
}

// MarshalBinary encodes the response.
func (r *Response) MarshalBinary() ([]byte, error) { return r.AppendBinary(nil) }

// natpmpReplyLen is the length of NAT-PMP's "unsupported version" reply.
const natpmpReplyLen = 8

// ParseResponse decodes and validates a response as a client must before
// using it (RFC 6887 §8.3): length 24 to 1100 bytes and a multiple of 4, the
// R bit set, version 2 (or UNSUPP_VERSION with the server's version), a
// known opcode, and well-formed data and options. Unknown options are kept
// in Options.Unknown and otherwise ignored. Source address and port are
// checked by the caller (the [Client] accepts only the server's).
//
// A NAT-PMP server answers a PCP request with the NAT-PMP "unsupported
// version" reply (RFC 6886 §3.5; RFC 6887 §9): version 0, opcode 0 or 128+,
// result code 1 as 16 bits, then its epoch — 8 bytes, shorter than any PCP
// message. It is recognised and returned as a Response with Version 0 and
// Result UNSUPP_VERSION.
func ParseResponse(b []byte) (*Response, error) {
	if len(b) >= 1 && b[0] == 0 {
		return parseNATPMPReply(b)
	}
	if len(b) < HeaderLen {
		return nil, decodeErr(MalformedRequest, fmt.Sprintf("length %d < %d", len(b), HeaderLen))
	}
	if len(b) > MaxMessageLen {
		return nil, decodeErr(MalformedRequest, fmt.Sprintf("length %d > %d", len(b), MaxMessageLen))
	}
	if len(b)%4 != 0 {
		return nil, decodeErr(MalformedRequest, fmt.Sprintf("length %d is not a multiple of 4", len(b)))
	}
	if b[1]&responseBit == 0 {
		return nil, decodeErr(MalformedRequest, "R bit clear: a request, not a response")
	}
	r := &Response{
		Version:  b[0],
		Opcode:   Opcode(b[1] &^ responseBit),
		Result:   ResultCode(b[3]),
		Lifetime: binary.BigEndian.Uint32(b[4:8]),
		Epoch:    binary.BigEndian.Uint32(b[8:12]),
	}
	if r.Version != Version {
		if r.Result == UnsuppVersion {
			// Another version's layout: only the header is meaningful.
			return r, nil
		}
		return nil, decodeErr(UnsuppVersion, fmt.Sprintf("version %d with result %s", r.Version, r.Result))
	}
	n := dataLen(r.Opcode)
	if n < 0 {
		return nil, decodeErr(UnsuppOpcode, "opcode "+r.Opcode.String())
	}
	if len(b) < HeaderLen+n {
		if r.Result != Success && len(b) == HeaderLen {
			// An error response without the opcode data (the server could
			// not parse the request): header only.
			return r, nil
		}
		return nil, decodeErr(MalformedRequest, fmt.Sprintf("%s response of %d bytes, want at least %d", r.Opcode, len(b), HeaderLen+n))
	}
	if n > 0 {
		r.HasData = true
		r.Data = parseMapData(b[HeaderLen:], r.Opcode)
	}
	opts, err := parseOptions(b[HeaderLen+n:])
	if err != nil {
		return nil, err
	}
	r.Options = opts
	return r, nil
}

// parseNATPMPReply recognises the NAT-PMP "unsupported version" reply.
// RFC 6886 §3.5 draws its opcode as 0; servers in the field (and the RFC's
// text for other errors) use 128 + the request's opcode; both are accepted.
func parseNATPMPReply(b []byte) (*Response, error) {
	if len(b) < natpmpReplyLen || len(b) > MaxMessageLen {
		return nil, decodeErr(MalformedRequest, fmt.Sprintf("version 0 (NAT-PMP) message of %d bytes", len(b)))
	}
	if b[1] != 0 && b[1]&responseBit == 0 {
		return nil, decodeErr(MalformedRequest, "version 0 (NAT-PMP) request, not a reply")
	}
	if rc := binary.BigEndian.Uint16(b[2:4]); rc != uint16(UnsuppVersion) {
		return nil, decodeErr(UnsuppVersion, fmt.Sprintf("NAT-PMP reply with result %d, not 1 (unsupported version)", rc))
	}
	return &Response{
		Version: 0,
		Opcode:  Opcode(b[1] &^ responseBit),
		Result:  UnsuppVersion,
		Epoch:   binary.BigEndian.Uint32(b[4:8]),
	}, nil
}

// external returns the assigned external address and port of a MAP or PEER
// response.
func (r *Response) external() netip.AddrPort {
	return netip.AddrPortFrom(r.Data.ExternalAddr, r.Data.ExternalPort)
}
