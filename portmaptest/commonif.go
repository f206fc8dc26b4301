package portmaptest

import "strconv"

// linkBitRate is the up- and downstream rate GetCommonLinkProperties
// reports (1 Gbit/s).
const linkBitRate = 1000000000

// commonActionLocked runs a WANCommonInterfaceConfig:1 action. The
// traffic counters are the gateway's own UDP traffic, wrapping at 2^32 as
// the specification's ui4 does.
func (g *Gateway) commonActionLocked(action string) ([]Arg, int) {
	u32 := func(n uint64) string { return strconv.FormatUint(n&0xffffffff, 10) }
	switch action {
	case "GetCommonLinkProperties":
		return []Arg{
			{"NewWANAccessType", "Ethernet"},
			{"NewLayer1UpstreamMaxBitRate", strconv.Itoa(linkBitRate)},
			{"NewLayer1DownstreamMaxBitRate", strconv.Itoa(linkBitRate)},
			{"NewPhysicalLinkStatus", g.linkStatusLocked()},
		}, 0
	case "GetTotalBytesSent":
		return []Arg{{"NewTotalBytesSent", u32(g.stats.bytesOut)}}, 0
	case "GetTotalBytesReceived":
		return []Arg{{"NewTotalBytesReceived", u32(g.stats.bytesIn)}}, 0
	case "GetTotalPacketsSent":
		return []Arg{{"NewTotalPacketsSent", u32(g.stats.pktsOut)}}, 0
	case "GetTotalPacketsReceived":
		return []Arg{{"NewTotalPacketsReceived", u32(g.stats.pktsIn)}}, 0
	}
	return nil, errInvalidAction
}

func (g *Gateway) linkStatusLocked() string {
	if g.extIP.IsValid() {
		return "Up"
	}
	return "Down"
}
