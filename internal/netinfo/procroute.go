package netinfo

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"math/bits"
	"net/netip"
	"strconv"
	"strings"
)

// Linux route flags (include/uapi/linux/route.h).
const (
	rtfUp      = 0x0001
	rtfGateway = 0x0002
	rtfReject  = 0x0200
)

// maxRouteFile bounds how much of a /proc routing file is read.
const maxRouteFile = 4 << 20

// parseProcRoute parses Linux /proc/net/route. Its addresses are 32-bit
// numbers printed in hex in the kernel's byte order, given as order. Only
// routes that are up, go through a gateway and are not reject routes are
// returned; lines that do not parse are skipped.
func parseProcRoute(r io.Reader, order binary.ByteOrder) ([]rtEntry, error) {
	sc := bufio.NewScanner(io.LimitReader(r, maxRouteFile))
	var routes []rtEntry
	first := true
	for sc.Scan() {
		if first { // header: Iface Destination Gateway Flags ...
			first = false
			continue
		}
		f := strings.Fields(sc.Text())
		if len(f) < 8 {
			continue
		}
		flags, err1 := strconv.ParseUint(f[3], 16, 32)
		dst, err2 := parseHex4(f[1], order)
		gw, err3 := parseHex4(f[2], order)
		mask, err4 := parseHex4(f[7], order)
		metric, err5 := strconv.ParseUint(f[6], 10, 32)
		if err1 != nil || err2 != nil || err3 != nil || err4 != nil || err5 != nil {
			continue
		}
		if flags&(rtfUp|rtfGateway) != rtfUp|rtfGateway || flags&rtfReject != 0 {
			continue
		}
		m := binary.BigEndian.Uint32(mask.AsSlice())
		ones := bits.LeadingZeros32(^m)
		if m<<ones != 0 { // not a contiguous mask
			continue
		}
		pfx, err := dst.Prefix(ones)
		if err != nil {
			continue
		}
		routes = append(routes, rtEntry{dst: pfx, gw: gw, iface: f[0], metric: uint32(metric)})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("netinfo: reading /proc/net/route: %w", err)
	}
	return routes, nil
}

// parseHex4 decodes an IPv4 address printed as 8 hex digits of a number in
// the given byte order.
func parseHex4(s string, order binary.ByteOrder) (netip.Addr, error) {
	if len(s) != 8 {
		return netip.Addr{}, fmt.Errorf("bad address %q", s)
	}
	v, err := strconv.ParseUint(s, 16, 32)
	if err != nil {
		return netip.Addr{}, err
	}
	var b [4]byte
	order.PutUint32(b[:], uint32(v))
	return netip.AddrFrom4(b), nil
}

// parseIPv6Route parses Linux /proc/net/ipv6_route: destination, prefix
// length, source, source prefix length, next hop, metric, refcount, use,
// flags and interface, in hex, addresses in network byte order. Only
// routes that are up, go through a gateway and are not reject routes are
// returned; a link-local next hop gets the interface as its zone.
func parseIPv6Route(r io.Reader) ([]rtEntry, error) {
	sc := bufio.NewScanner(io.LimitReader(r, maxRouteFile))
	var routes []rtEntry
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 10 {
			continue
		}
		dst, err1 := parseHex16(f[0])
		plen, err2 := strconv.ParseUint(f[1], 16, 8)
		gw, err3 := parseHex16(f[4])
		metric, err4 := strconv.ParseUint(f[5], 16, 32)
		flags, err5 := strconv.ParseUint(f[8], 16, 32)
		if err1 != nil || err2 != nil || err3 != nil || err4 != nil || err5 != nil {
			continue
		}
		if flags&(rtfUp|rtfGateway) != rtfUp|rtfGateway || flags&rtfReject != 0 {
			continue
		}
		pfx, err := dst.Prefix(int(plen))
		if err != nil {
			continue
		}
		iface := f[9]
		if gw.IsLinkLocalUnicast() {
			gw = gw.WithZone(iface)
		}
		routes = append(routes, rtEntry{dst: pfx, gw: gw, iface: iface, metric: uint32(metric)})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("netinfo: reading /proc/net/ipv6_route: %w", err)
	}
	return routes, nil
}

// parseHex16 decodes an IPv6 address printed as 32 hex digits.
func parseHex16(s string) (netip.Addr, error) {
	var b [16]byte
	if len(s) != 32 {
		return netip.Addr{}, fmt.Errorf("bad address %q", s)
	}
	if _, err := hex.Decode(b[:], []byte(s)); err != nil {
		return netip.Addr{}, err
	}
	return netip.AddrFrom16(b), nil
}
