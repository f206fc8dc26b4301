package pcp

import "net/netip"

// PCP carries every address in a 128-bit field; an IPv4 address is sent as
// an IPv4-mapped IPv6 address, ::ffff:a.b.c.d (RFC 6887 §5).

// putAddr writes a as 16 bytes into b[:16]. IPv4 becomes IPv4-mapped; the
// invalid (zero) Addr becomes :: (all zeros). Zones are dropped.
func putAddr(b []byte, a netip.Addr) {
	var a16 [16]byte
	if a.IsValid() {
		a16 = a.As16() // As16 maps IPv4 to ::ffff:a.b.c.d
	}
	copy(b[:16], a16[:])
}

// getAddr reads 16 bytes; an IPv4-mapped address is returned as IPv4.
func getAddr(b []byte) netip.Addr {
	return netip.AddrFrom16([16]byte(b[:16])).Unmap()
}

// unspecifiedLike returns the "no preference" external address of a's family:
// 0.0.0.0 (sent as ::ffff:0.0.0.0) for IPv4, :: for IPv6 (RFC 6887 §11.1).
func unspecifiedLike(a netip.Addr) netip.Addr {
	if a.Unmap().Is4() {
		return netip.IPv4Unspecified()
	}
	return netip.IPv6Unspecified()
}
