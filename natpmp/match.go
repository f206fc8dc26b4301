package natpmp

// matchResult tells how a reply relates to the outstanding request.
type matchResult int

const (
	noMatch matchResult = iota
	matched
	// matchedTruncated: a mapping reply whose internal port is the low
	// byte of the one requested (see truncatedPort).
	matchedTruncated
)

// match reports whether resp answers req.
func match(req Request, resp Response) matchResult {
	if resp.Short && resp.Result == ResultUnsupportedVersion && (resp.Op == 0 || resp.Op == OpReply) {
		// The 8-byte Unsupported Version reply carries opcode 0 or 128
		// whatever the request was (RFC 6886 §3.5).
		return matched
	}
	if resp.Op != req.Op|OpReply {
		return noMatch
	}
	if req.Op == OpExternalAddress || resp.Short {
		return matched
	}
	if resp.Result == ResultSuccess && (resp.Lifetime == 0) != (req.Lifetime == 0) {
		return noMatch
	}
	if resp.InternalPort == req.InternalPort {
		return matched
	}
	if truncatedPort(req.InternalPort, resp.InternalPort) {
		return matchedTruncated
	}
	// Most likely a late duplicate reply to an earlier request.
	return noMatch
}

// truncatedPort reports whether got is want cut to its low byte.
//
// Router quirk: miniupnpd 1.8.20140523 (shipped by Ubuntu 16.04 and other
// distributions, and the routers built on it) put only the low 8 bits of
// the internal and external ports in its mapping replies (miniupnp issue
// #89, fixed upstream in 2014; seen again in miniupnp issue #196): a request
// for 22002 -> 28174 was answered "242 -> 14" while the mapping 28174 was
// created as requested. The echoed internal port gives it away.
func truncatedPort(want, got uint16) bool {
	return want > 0xff && got == want&0xff
}
