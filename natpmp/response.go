package natpmp

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// Reply sizes in bytes (RFC 6886 §3.2, §3.3 and §3.5).
const (
	shortResponseSize           = 8 // header and epoch: error replies
	externalAddressResponseSize = 12
	mapResponseSize             = 16

	// maxPacket bounds every read from the network: no valid NAT-PMP
	// packet is longer than 16 bytes; a larger buffer lets the decoder see
	// (and reject) oversized packets instead of silently truncating them.
	maxPacket = 128
)

// Response is a NAT-PMP reply (or an announcement, which has the form of
// an external address reply).
//
// Op is the opcode as sent by the gateway: 128 + the request's opcode, or
// 0 in the 8-byte Unsupported Version reply of some gateways. Epoch is the
// gateway's seconds since start of epoch. ExternalAddr is set in external
// address replies; InternalPort, ExternalPort and Lifetime (seconds) in
// mapping replies.
//
// Short marks the 8-byte form (header and epoch only) that gateways may send
// with a result code other than success, such as the Unsupported Version
// reply of RFC 6886 §3.5.
type Response struct {
	Op           Opcode
	Result       ResultCode
	Epoch        uint32
	ExternalAddr netip.Addr
	InternalPort uint16
	ExternalPort uint16
	Lifetime     uint32
	Short        bool
}

// UnsupportedVersionResponse returns the 8-byte reply a gateway sends to a
// request of another version (RFC 6886 §3.5).
func UnsupportedVersionResponse(epoch uint32) Response {
	return Response{Op: OpReply, Result: ResultUnsupportedVersion, Epoch: epoch, Short: true}
}

// AppendBinary appends the wire form of r to b.
func (r Response) AppendBinary(b []byte) ([]byte, error) {
	if r.Short {
		if r.Result == ResultSuccess {
			return b, fmt.Errorf("natpmp: a short (8-byte) reply must carry an error result code")
		}
		if r.Op != 0 && r.Op != OpReply|OpExternalAddress && r.Op != OpReply|OpMapUDP && r.Op != OpReply|OpMapTCP {
			return b, fmt.Errorf("natpmp: cannot encode a reply with opcode %d", uint8(r.Op))
		}
		return r.appendHeader(b), nil
	}
	switch r.Op {
	case OpReply | OpExternalAddress:
		if !r.ExternalAddr.Is4() {
			return b, fmt.Errorf("natpmp: external address %v is not IPv4", r.ExternalAddr)
		}
		b = r.appendHeader(b)
		a := r.ExternalAddr.As4()
		return append(b, a[:]...), nil
	case OpReply | OpMapUDP, OpReply | OpMapTCP:
		b = r.appendHeader(b)
		b = binary.BigEndian.AppendUint16(b, r.InternalPort)
		b = binary.BigEndian.AppendUint16(b, r.ExternalPort)
		return binary.BigEndian.AppendUint32(b, r.Lifetime), nil
	}
	return b, fmt.Errorf("natpmp: cannot encode a reply with opcode %d", uint8(r.Op))
}

func (r Response) appendHeader(b []byte) []byte {
	b = append(b, Version, byte(r.Op))
	b = binary.BigEndian.AppendUint16(b, uint16(r.Result))
	return binary.BigEndian.AppendUint32(b, r.Epoch)
}

// MarshalBinary returns the wire form of r.
func (r Response) MarshalBinary() ([]byte, error) {
	return r.AppendBinary(make([]byte, 0, mapResponseSize))
}

// ParseResponse decodes a reply or an announcement. It is strict about
// lengths:
//
//   - an external address reply (op 128) is 12 bytes, a mapping reply
//     (op 129, 130) 16 bytes;
//   - with a result code other than success, the 8-byte form (header and
//     epoch) is accepted too, for opcodes 128, 129, 130 and also 0, which
//     some gateways use in the Unsupported Version reply (RFC 6886 §3.5);
//   - anything shorter, longer, of another version or with another opcode
//     wraps [ErrMalformed].
func ParseResponse(b []byte) (Response, error) {
	if len(b) < shortResponseSize {
		return Response{}, fmt.Errorf("%w: reply of %d bytes is truncated", ErrMalformed, len(b))
	}
	if b[0] != Version {
		return Response{}, fmt.Errorf("%w: version %d", ErrMalformed, b[0])
	}
	r := Response{
		Op:     Opcode(b[1]),
		Result: ResultCode(binary.BigEndian.Uint16(b[2:])),
		Epoch:  binary.BigEndian.Uint32(b[4:]),
	}
	var want int
	switch r.Op {
	case 0:
		// Only the Unsupported Version reply of gateways that put the
		// request's opcode (0) rather than 128 in it.
		if r.Result == ResultSuccess {
			return Response{}, fmt.Errorf("%w: opcode 0 is a request, not a reply", ErrMalformed)
		}
		want = shortResponseSize
	case OpReply | OpExternalAddress:
		want = externalAddressResponseSize
	case OpReply | OpMapUDP, OpReply | OpMapTCP:
		want = mapResponseSize
	default:
		return Response{}, fmt.Errorf("%w: unexpected opcode %d", ErrMalformed, b[1])
	}
	if len(b) == shortResponseSize && r.Result != ResultSuccess {
		r.Short = true
		return r, nil
	}
	if len(b) != want {
		return Response{}, fmt.Errorf("%w: %v of %d bytes, want %d", ErrMalformed, r.Op, len(b), want)
	}
	switch want {
	case externalAddressResponseSize:
		r.ExternalAddr = netip.AddrFrom4([4]byte(b[8:12]))
	case mapResponseSize:
		r.InternalPort = binary.BigEndian.Uint16(b[8:])
		r.ExternalPort = binary.BigEndian.Uint16(b[10:])
		r.Lifetime = binary.BigEndian.Uint32(b[12:])
	}
	return r, nil
}
