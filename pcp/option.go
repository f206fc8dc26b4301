package pcp

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"strconv"
)

// OptionCode identifies a PCP option (RFC 6887 §7.3). Codes 0-127 are
// mandatory to process: a server that does not know one rejects the request
// with UNSUPP_OPTION. Codes 128-255 are optional and may be ignored.
type OptionCode uint8

// Options defined by RFC 6887 §13.
const (
	OptThirdParty    OptionCode = 1 // THIRD_PARTY (§13.1): map for another internal host
	OptPreferFailure OptionCode = 2 // PREFER_FAILURE (§13.2): fail rather than give another port/address
	OptFilter        OptionCode = 3 // FILTER (§13.3): accept inbound traffic only from these peers
)

// Mandatory reports whether a server must understand the option (code < 128).
func (c OptionCode) Mandatory() bool { return c < 128 }

// String returns the RFC name or "Option(N)".
func (c OptionCode) String() string {
	switch c {
	case OptThirdParty:
		return "THIRD_PARTY"
	case OptPreferFailure:
		return "PREFER_FAILURE"
	case OptFilter:
		return "FILTER"
	}
	return "Option(" + strconv.Itoa(int(c)) + ")"
}

// Option data lengths (the Option Length field) of the known options.
const (
	thirdPartyLen    = 16
	preferFailureLen = 0
	filterLen        = 20
	optionHeaderLen  = 4
)

// Options are the options of a request or response. The encoder writes them
// in this order: THIRD_PARTY, PREFER_FAILURE, each FILTER, then Unknown.
type Options struct {
	// ThirdParty is the internal address the mapping is for when it is not
	// the sender's own (THIRD_PARTY); the zero Addr means absent.
	ThirdParty netip.Addr
	// PreferFailure asks the server to fail with CANNOT_PROVIDE_EXTERNAL
	// instead of assigning another external address or port (MAP only).
	PreferFailure bool
	// Filters restrict which remote peers may use a MAP mapping (MAP only).
	Filters []Filter
	// Unknown holds options this package does not know, in the order
	// received. A client ignores them in responses (RFC 6887 §7.3); a
	// server must refuse a request with a mandatory one (UNSUPP_OPTION).
	Unknown []RawOption
}

// Filter is one FILTER option: only traffic from Remote (and RemotePort,
// unless 0) may reach the mapping.
type Filter struct {
	// Remote is the allowed remote peer prefix, e.g. 203.0.113.7/32 or
	// 2001:db8::/32. The zero Prefix is the RFC's prefix length 0: "no
	// filter", which removes all filters of the mapping.
	Remote netip.Prefix
	// RemotePort is the allowed remote port; 0 means all ports.
	RemotePort uint16
}

// RawOption is an option kept as received.
type RawOption struct {
	Code OptionCode
	Data []byte // without padding
}

// len returns the encoded length of the options.
func (o *Options) len() int {
	n := 0
	if o.ThirdParty.IsValid() {
		n += optionHeaderLen + thirdPartyLen
	}
	if o.PreferFailure {
		n += optionHeaderLen
	}
	n += len(o.Filters) * (optionHeaderLen + filterLen)
	for _, r := range o.Unknown {
		n += optionHeaderLen + pad4(len(r.Data))
	}
	return n
}

func pad4(n int) int { return (n + 3) &^ 3 }

func appendOptionHeader(b []byte, c OptionCode, n int) []byte {
	return append(b, byte(c), 0, byte(n>>8), byte(n))
}

// appendOptions appends the encoded options to b.
func (o *Options) append(b []byte) ([]byte, error) {
	if o.ThirdParty.IsValid() {
		b = appendOptionHeader(b, OptThirdParty, thirdPartyLen)
		b = append(b, make([]byte, 16)...)
		putAddr(b[len(b)-16:], o.ThirdParty)
	}
	if o.PreferFailure {
		b = appendOptionHeader(b, OptPreferFailure, preferFailureLen)
	}
	for _, f := range o.Filters {
		var plen int
		var addr netip.Addr
		if f.Remote.IsValid() {
			addr = f.Remote.Addr()
			plen = f.Remote.Bits()
			if addr.Is4() {
				plen += 96 // bits of the IPv4-mapped form (RFC 6887 §13.3)
			}
		}
		if f.Remote.IsValid() && plen == 0 {
			// ::/0 cannot be written: prefix length 0 means "no filter".
			return nil, fmt.Errorf("%w: FILTER ::/0 cannot be encoded (prefix length 0 means remove all filters)", ErrInvalidRequest)
		}
		b = appendOptionHeader(b, OptFilter, filterLen)
		b = append(b, 0, byte(plen), byte(f.RemotePort>>8), byte(f.RemotePort))
		b = append(b, make([]byte, 16)...)
		putAddr(b[len(b)-16:], addr)
	}
	for _, r := range o.Unknown {
		if len(r.Data) > MaxMessageLen {
			return nil, fmt.Errorf("%w: option %s too long", ErrInvalidRequest, r.Code)
		}
		b = appendOptionHeader(b, r.Code, len(r.Data))
		b = append(b, r.Data...)
		b = append(b, make([]byte, pad4(len(r.Data))-len(r.Data))...)
	}
	return b, nil
}

// parseOptions decodes the options in b (which must be the rest of a
// message, a multiple of 4 bytes long). It checks the structure and the
// known options' lengths and contents; it does not check whether an option
// is allowed with the opcode (see [Options.check]).
func parseOptions(b []byte) (Options, error) {
	var o Options
	seenThird, seenPrefer := false, false
	for len(b) > 0 {
		if len(b) < optionHeaderLen {
			return o, decodeErr(MalformedOption, "truncated option header")
		}
		code := OptionCode(b[0])
		n := int(binary.BigEndian.Uint16(b[2:4]))
		if optionHeaderLen+pad4(n) > len(b) {
			return o, decodeErr(MalformedOption, fmt.Sprintf("option %s length %d runs past the end", code, n))
		}
		data := b[optionHeaderLen : optionHeaderLen+n]
		b = b[optionHeaderLen+pad4(n):]
		switch code {
		case OptThirdParty:
			if n != thirdPartyLen {
				return o, decodeErr(MalformedOption, fmt.Sprintf("THIRD_PARTY length %d, want 16", n))
			}
			if seenThird {
				return o, decodeErr(MalformedOption, "THIRD_PARTY repeated")
			}
			seenThird = true
			o.ThirdParty = getAddr(data)
		case OptPreferFailure:
			if n != preferFailureLen {
				return o, decodeErr(MalformedOption, fmt.Sprintf("PREFER_FAILURE length %d, want 0", n))
			}
			if seenPrefer {
				return o, decodeErr(MalformedOption, "PREFER_FAILURE repeated")
			}
			seenPrefer = true
			o.PreferFailure = true
		case OptFilter:
			if n != filterLen {
				return o, decodeErr(MalformedOption, fmt.Sprintf("FILTER length %d, want 20", n))
			}
			f, err := parseFilter(data)
			if err != nil {
				return o, err
			}
			o.Filters = append(o.Filters, f)
		default:
			o.Unknown = append(o.Unknown, RawOption{Code: code, Data: bytes.Clone(data)})
		}
	}
	return o, nil
}

func parseFilter(d []byte) (Filter, error) {
	plen := int(d[1])
	f := Filter{RemotePort: binary.BigEndian.Uint16(d[2:4])}
	addr16 := netip.AddrFrom16([16]byte(d[4:20]))
	switch {
	case plen == 0:
		// "no filter": the address is ignored.
	case plen > 128:
		return f, decodeErr(MalformedOption, fmt.Sprintf("FILTER prefix length %d > 128", plen))
	case addr16.Is4In6():
		if plen < 96 {
			return f, decodeErr(MalformedOption, fmt.Sprintf("FILTER prefix length %d < 96 for an IPv4 address", plen))
		}
		f.Remote = netip.PrefixFrom(addr16.Unmap(), plen-96)
	default:
		f.Remote = netip.PrefixFrom(addr16, plen)
	}
	return f, nil
}

// check reports an option that RFC 6887 §13 does not allow with opcode op:
// PREFER_FAILURE and FILTER are for MAP only; THIRD_PARTY for MAP and PEER.
func (o *Options) check(op Opcode) error {
	if o.ThirdParty.IsValid() && op != OpMap && op != OpPeer {
		return decodeErr(MalformedOption, "THIRD_PARTY with "+op.String())
	}
	if o.PreferFailure && op != OpMap {
		return decodeErr(MalformedOption, "PREFER_FAILURE with "+op.String())
	}
	if len(o.Filters) > 0 && op != OpMap {
		return decodeErr(MalformedOption, "FILTER with "+op.String())
	}
	return nil
}
