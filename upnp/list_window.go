package upnp

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"sync"
)

// ListOptions tunes ListPortMappings. The zero value lists every TCP and
// UDP mapping of the caller (Manage false).
type ListOptions struct {
	// Protocols to list, "TCP" and/or "UDP"; nil means both.
	Protocols []string
	// StartPort and EndPort bound the external ports listed; both zero
	// means 1-65535.
	StartPort, EndPort uint16
	// Manage asks for the mappings of every client (NewManage=1), which
	// IGDv2 devices with DeviceProtection may reserve to administrators;
	// on 606 the request is repeated with NewManage=0.
	Manage bool
	// MaxPerReply is the most entries a single GetListOfPortMappings
	// reply may hold. Default 64; values above MaxSafePerReply are
	// lowered to it.
	MaxPerReply int
	// MaxEntries bounds the result and the GetGenericPortMappingEntry
	// loop used without IGDv2. Default 4096.
	MaxEntries int
	// MaxCalls bounds the SOAP requests made. Default 4096.
	MaxCalls int
}

// MaxSafePerReply is the largest ListOptions.MaxPerReply: the most
// mappings of one protocol a GetListOfPortMappings range may hold on
// miniupnpd. Its get_portmappings_in_range (miniupnpd up to 2.3.x, the
// daemon of most Linux-based routers) collects the ports in an array of
// 128 and, when full, "grows" it with realloc to the same size, then
// writes past its end: the 129th entry corrupts the heap and the daemon
// dies then or a few requests later. 128 entries fit exactly.
const MaxSafePerReply = 128

// ErrListIncomplete is wrapped when ListPortMappings stops at MaxCalls or
// MaxEntries; the mappings gathered so far are returned with it.
var ErrListIncomplete = errors.New("upnp: port mapping list incomplete")

// ListPortMappings returns the gateway's port mappings sorted by external
// port then protocol, without ever letting one request cover more than
// MaxPerReply mappings.
//
// Why: miniupnpd 2.3.1 (nftables backend) corrupts its heap and dies when
// one GetListOfPortMappings (or DeletePortMappingRange) range holds more
// than 128 mappings of a protocol, whatever NewNumberOfPorts says (see
// MaxSafePerReply). And with a big table every request is slow (about 0.4 s each
// at 200 rules, whatever the action), so a per-index
// GetGenericPortMappingEntry walk of 200 entries takes over a minute.
//
// How: the table size is bounded with GetGenericPortMappingEntry probes
// (index MaxPerReply-1, then doubling, and one probe at the index that,
// answered with a fault, would leave fewer than MaxPerReply entries
// unknown). A range can hold at most as many
// mappings as it has ports, and at most the known mappings inside it plus
// the table size minus all known mappings; every request keeps one of
// these bounds within MaxPerReply. While many mappings are unknown,
// windows of MaxPerReply ports start at ports where probes found mappings
// and grow outward while they keep finding some (mappings cluster); when
// the table looks sparse, table indices are fetched instead, since each
// lands on a mapping. Once fewer than MaxPerReply mappings are unknown,
// the rest is fetched in one request per protocol or a few. A table of
// fewer than MaxPerReply entries costs three requests; 200 clustered
// entries about twelve. Without IGDv2, or when the device lacks
// GetListOfPortMappings (401, 602), it falls back to a bounded
// GetGenericPortMappingEntry walk.
func (c *WANConnection) ListPortMappings(ctx context.Context, opts ListOptions) ([]PortMapping, error) {
	l, err := newLister(ctx, c, opts)
	if err != nil {
		return nil, err
	}
	if c.Version < 2 {
		err = l.generic()
	} else {
		err = l.windowed()
		if isListUnsupported(err) {
			err = l.generic()
		}
	}
	return l.result(), err
}

type mapKey struct {
	host  netip.Addr
	port  uint16
	proto string
}

// portRange is an inclusive range of external ports.
type portRange struct{ lo, hi uint16 }

func (r portRange) size() int { return int(r.hi) - int(r.lo) + 1 }

// hotSpot is a port where mappings are likely: dir 0 centres a window on
// it (a sampled entry), +1 starts a window there, -1 ends one there (the
// neighbours of a window that held entries).
type hotSpot struct {
	proto string
	port  uint16
	dir   int
}

type lister struct {
	ctx    context.Context
	c      *WANConnection
	opts   ListOptions
	protos []string
	limit  int

	mu     sync.Mutex // guards calls and manage (finish fetches concurrently)
	calls  int
	manage bool

	// known holds every mapping learnt so far, in scope or not; the
	// device table has at most hi entries, so at most hi-len(known) are
	// unknown anywhere.
	known map[mapKey]PortMapping
	holes map[string][]portRange // unscanned ranges per protocol, sorted
	hot   []hotSpot
	// The table holds at least lo+1 and at most hi entries: index lo
	// answered, index hi did not (-1 and 65536 when unknown).
	lo, hi  int
	sampled map[int]bool
	sampleK int
	// targeted is set once the probe that could prove the table small
	// enough to finish has been made.
	targeted bool
	// hits and misses count windows centred on sampled entries that did
	// or did not reveal other entries: scattered tables stop using them.
	hits, misses int
	// unscannedPorts is the total size of all holes.
	unscannedPorts int
}

func newLister(ctx context.Context, c *WANConnection, opts ListOptions) (*lister, error) {
	if opts.StartPort == 0 && opts.EndPort == 0 {
		opts.StartPort, opts.EndPort = 1, 65535
	}
	if opts.StartPort > opts.EndPort {
		return nil, fmt.Errorf("upnp: ListPortMappings: start port %d > end port %d", opts.StartPort, opts.EndPort)
	}
	if opts.MaxPerReply <= 0 {
		opts.MaxPerReply = 64
	}
	opts.MaxPerReply = max(min(opts.MaxPerReply, MaxSafePerReply), 2)
	if opts.MaxEntries <= 0 {
		opts.MaxEntries = 4096
	}
	if opts.MaxCalls <= 0 {
		opts.MaxCalls = 4096
	}
	protos := opts.Protocols
	if len(protos) == 0 {
		protos = []string{"TCP", "UDP"}
	}
	l := &lister{ctx: ctx, c: c, opts: opts, limit: opts.MaxPerReply, manage: opts.Manage,
		known: map[mapKey]PortMapping{}, holes: map[string][]portRange{}, sampled: map[int]bool{},
		lo: -1, hi: 65536}
	for _, p := range protos {
		u, err := normProtocol(p)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(l.protos, u) {
			l.protos = append(l.protos, u)
			l.holes[u] = []portRange{{opts.StartPort, opts.EndPort}}
			l.unscannedPorts += int(opts.EndPort) - int(opts.StartPort) + 1
		}
	}
	return l, nil
}

func isListUnsupported(err error) bool {
	var he *HTTPError
	if errors.As(err, &he) {
		return he.StatusCode == http.StatusNotFound || he.StatusCode == http.StatusMethodNotAllowed || he.StatusCode == http.StatusNotImplemented
	}
	return errors.Is(err, ErrNotSupported) || errors.Is(err, ErrInvalidAction) ||
		errors.Is(err, ErrOptionalNotSupported) || errors.Is(err, ErrInvalidArgs)
}

func (l *lister) spend() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.ctx.Err(); err != nil {
		return err
	}
	if l.calls >= l.opts.MaxCalls {
		return fmt.Errorf("%w: %d SOAP requests made (MaxCalls)", ErrListIncomplete, l.calls)
	}
	l.calls++
	return nil
}

// entryAt fetches index i; ok is false when the device answered a fault
// (past the end: 713, or 714/402/501 on some devices).
func (l *lister) entryAt(i int) (PortMapping, bool, error) {
	if err := l.spend(); err != nil {
		return PortMapping{}, false, err
	}
	pm, err := l.c.GetGenericPortMappingEntry(l.ctx, i)
	var se *SOAPError
	if errors.As(err, &se) {
		l.hi = min(l.hi, i)
		return PortMapping{}, false, nil
	}
	if err != nil {
		return PortMapping{}, false, err
	}
	l.sampled[i] = true
	l.lo = max(l.lo, i)
	return pm, true, nil
}

// learn records a mapping as known.
func (l *lister) learn(pm PortMapping) {
	l.known[mapKey{pm.RemoteHost, pm.ExternalPort, pm.Protocol}] = pm
}

// addSample records a probed entry, and a hot spot at its port when it is
// in scope and not yet scanned.
func (l *lister) addSample(pm PortMapping) {
	l.learn(pm)
	if l.inScope(pm) && l.unscanned(pm.Protocol, pm.ExternalPort) {
		l.hot = append(l.hot, hotSpot{pm.Protocol, pm.ExternalPort, 0})
	}
}

func (l *lister) inScope(pm PortMapping) bool {
	return slices.Contains(l.protos, pm.Protocol) && pm.ExternalPort >= l.opts.StartPort && pm.ExternalPort <= l.opts.EndPort
}

// probeSize bounds the table size: index limit-1 first (most tables are
// smaller: then the listing takes one request per protocol), then
// doubling until an index is past the end. The bound is refined later by
// binary search only when that may save requests.
func (l *lister) probeSize() error {
	for i := max(l.lo+1, l.limit-1); i < l.hi && i <= 65535; i = 2*i + 1 {
		pm, ok, err := l.entryAt(i)
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		l.addSample(pm)
	}
	return nil
}

// remaining is the most entries the device may hold that are not known.
func (l *lister) remaining() int { return max(l.hi-len(l.known), 0) }

// windowed lists by port windows; see ListPortMappings. On miniupnpd with
// a big table every request costs about the same (0.4 s with 200 rules,
// whatever the action), so the aim is few requests.
func (l *lister) windowed() error {
	if l.lo < 0 && l.hi > 65535 {
		if err := l.probeSize(); err != nil {
			return err
		}
	}
	reprobes := 0
	for l.pending() {
		if len(l.known) > l.hi && reprobes < 2 {
			// The table grew while listing: the bound is stale.
			reprobes++
			l.hi = 65536
			l.targeted = false
			if err := l.probeSize(); err != nil {
				return err
			}
		}
		r := l.remaining()
		if r < l.limit {
			k := l.knownInHoles()
			// Finish now unless one more sample (one request) would
			// save more than one finishing request.
			if r == 0 || l.finishCost(r, k) <= l.finishCost(r-1, k+1)+1 || !l.canSample() {
				return l.finish()
			}
		} else if !l.targeted && l.lo+1-len(l.known) < l.limit {
			// The table may hold few enough unknown entries to finish:
			// one probe at the largest index that, past the end, proves
			// it. A table that reaches it is big; windows are next.
			l.targeted = true
			if i := len(l.known) + l.limit - 1; i > l.lo && i < l.hi {
				pm, ok, err := l.entryAt(i)
				if err != nil {
					return err
				}
				if ok {
					l.addSample(pm)
				}
			}
			continue
		}
		proto, w, dir, ok := l.nextHot()
		switch {
		case ok:
		case r > 0 && l.canSample() && l.sparse(r):
			if err := l.sample(); err != nil {
				return err
			}
			continue
		default:
			proto, w = l.sweep()
			dir = 2
		}
		before := len(l.known)
		found, err := l.query(proto, w)
		if err != nil {
			return err
		}
		fresh := len(l.known) - before
		if dir == 0 {
			if fresh > 0 {
				l.hits++
			} else {
				l.misses++
			}
		}
		// Mappings cluster: continue past the edges of a window that held
		// entries (beyond the sampled one for a centred window).
		if (dir == 0 && fresh > 0) || (dir != 0 && found > 0) {
			if dir != -1 && w.hi < l.opts.EndPort {
				l.hot = append(l.hot, hotSpot{proto, w.hi + 1, +1})
			}
			if dir != +1 && w.lo > l.opts.StartPort {
				l.hot = append(l.hot, hotSpot{proto, w.lo - 1, -1})
			}
		}
	}
	return nil
}

// finishCost estimates the requests finish needs: every range may hold
// limit-r known entries.
func (l *lister) finishCost(r, k int) int {
	return (k+l.limit-r-1)/(l.limit-r) + len(l.protos)
}

// unsampled is how many indices below hi have not been fetched.
func (l *lister) unsampled() int {
	n := 0
	for i := range l.sampled {
		if i < l.hi {
			n++
		}
	}
	return l.hi - n
}

// canSample reports whether some index below hi has not been fetched.
func (l *lister) canSample() bool { return l.unsampled() > 0 }

// sparse reports whether fetching an unfetched table index is expected to
// reveal more unknown entries than sweeping a blind window of limit ports:
// the r unknown entries sit at some of the unfetched indices, and spread
// over the unscanned ports.
func (l *lister) sparse(r int) bool {
	u := l.unsampled()
	if u == 0 || l.unscannedPorts == 0 {
		return false
	}
	sampleYield := float64(r) / float64(u)
	sweepYield := min(float64(r)*float64(l.limit)/float64(l.unscannedPorts), float64(l.limit))
	return sampleYield >= sweepYield
}

// knownInHoles counts known in-scope entries inside unscanned ranges.
func (l *lister) knownInHoles() int {
	k := 0
	for key, pm := range l.known {
		if l.inScope(pm) && l.unscanned(key.proto, key.port) {
			k++
		}
	}
	return k
}

// finish lists every unscanned range once fewer than limit entries are
// unknown. A range [lo, hi] can then hold at most (known entries inside
// it) + remaining, so ranges are cut so that this stays within limit;
// they may span already scanned ports to save requests.
//
// The ranges do not depend on what the replies hold, so they are planned
// first and the protocols are listed at the same time (each protocol's
// ranges in order): miniupnpd 2.3.1 serves the requests that arrive
// together in one pass of its loop, and each pass costs it about 160 ms
// with 100 mappings (testbed), so a table of TCP and UDP entries is
// listed in the time of one request instead of two.
func (l *lister) finish() error {
	allowed := l.limit - l.remaining()
	plans := make([][]portRange, len(l.protos))
	var spendErr error
plan:
	for i, p := range l.protos {
		for _, r := range l.finishRanges(p, allowed) {
			if spendErr = l.spend(); spendErr != nil {
				break plan
			}
			plans[i] = append(plans[i], r)
		}
	}
	type fetched struct {
		list []PortMapping
		err  error
	}
	results := make([][]fetched, len(l.protos))
	var wg sync.WaitGroup
	for i, p := range l.protos {
		wg.Go(func() {
			for _, r := range plans[i] {
				list, err := l.fetch(p, r)
				results[i] = append(results[i], fetched{list, err})
				if err != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	for i, p := range l.protos {
		for j, f := range results[i] {
			if f.err != nil {
				return f.err
			}
			l.absorb(p, plans[i][j], f.list)
		}
	}
	return spendErr
}

// finishRanges plans finish's requests for one protocol: from the first
// unscanned port, ranges holding at most allowed known entries each,
// until no unscanned port is left.
func (l *lister) finishRanges(p string, allowed int) []portRange {
	holes := l.holes[p]
	if len(holes) == 0 {
		return nil
	}
	var ports []int
	for key, pm := range l.known {
		if key.proto == p && l.inScope(pm) {
			ports = append(ports, int(key.port))
		}
	}
	slices.Sort(ports)
	end := int(holes[len(holes)-1].hi)
	var out []portRange
	for lo, ok := int(holes[0].lo), true; ok; {
		j, _ := slices.BinarySearch(ports, lo)
		hi := end
		if j+allowed < len(ports) {
			hi = min(end, max(ports[j+allowed]-1, lo))
		}
		out = append(out, portRange{uint16(lo), uint16(hi)})
		lo, ok = nextUnscanned(holes, hi)
	}
	return out
}

// nextUnscanned returns the first port of holes above after.
func nextUnscanned(holes []portRange, after int) (int, bool) {
	for _, h := range holes {
		if int(h.hi) > after {
			return max(int(h.lo), after+1), true
		}
	}
	return 0, false
}

func (l *lister) pending() bool {
	for _, p := range l.protos {
		if len(l.holes[p]) > 0 {
			return true
		}
	}
	return false
}

func (l *lister) holeAt(proto string, port uint16) (portRange, bool) {
	holes := l.holes[proto]
	i, _ := slices.BinarySearchFunc(holes, port, func(h portRange, p uint16) int { return cmp.Compare(h.hi, p) })
	if i < len(holes) && holes[i].lo <= port {
		return holes[i], true
	}
	return portRange{}, false
}

func (l *lister) unscanned(proto string, port uint16) bool {
	_, ok := l.holeAt(proto, port)
	return ok
}

// nextHot pops hot spots until one is still unscanned and returns a window
// of at most limit ports inside its hole. Windows centred on samples are
// skipped once they mostly revealed nothing new (scattered tables).
func (l *lister) nextHot() (string, portRange, int, bool) {
	for len(l.hot) > 0 {
		h := l.hot[len(l.hot)-1]
		l.hot = l.hot[:len(l.hot)-1]
		hole, ok := l.holeAt(h.proto, h.port)
		if !ok {
			continue
		}
		if h.dir == 0 && l.misses >= 3 && l.misses > 2*l.hits {
			continue
		}
		w := l.limit - 1
		var lo, hi int
		switch h.dir {
		case +1:
			lo, hi = int(h.port), int(h.port)+w
		case -1:
			lo, hi = int(h.port)-w, int(h.port)
		default:
			lo = int(h.port) - w/2
			hi = lo + w
		}
		lo, hi = max(lo, int(hole.lo)), min(hi, int(hole.hi))
		return h.proto, portRange{uint16(lo), uint16(hi)}, h.dir, true
	}
	return "", portRange{}, 0, false
}

// sample fetches the next index below hi not fetched yet, in a fixed
// scattered order (a permutation of 0-65535, odd multiplier), so that
// samples land in different clusters and a shrinking hi skips nothing.
func (l *lister) sample() error {
	for ; l.sampleK < 1<<16; l.sampleK++ {
		i := (l.sampleK * 7919) & 0xffff
		if i >= l.hi || l.sampled[i] {
			continue
		}
		l.sampleK++
		pm, ok, err := l.entryAt(i)
		if err != nil {
			return err
		}
		if ok {
			l.addSample(pm)
		}
		return nil
	}
	return nil
}

// sweep returns the first limit ports of the first hole of the protocol
// with the most unscanned ports.
func (l *lister) sweep() (string, portRange) {
	best, bestSize := "", -1
	for _, p := range l.protos {
		s := 0
		for _, h := range l.holes[p] {
			s += h.size()
		}
		if s > bestSize {
			best, bestSize = p, s
		}
	}
	h := l.holes[best][0]
	hi := min(int(h.lo)+l.limit-1, int(h.hi))
	return best, portRange{h.lo, uint16(hi)}
}

// listAskMax is the NewNumberOfPorts sent by ListPortMappings. The window
// bound, not this value, keeps replies small (miniupnpd ignores it); it is
// miniupnpd's own default, high enough that no honest device truncates a
// window's reply.
const listAskMax = 1000

// query lists one window, marks it scanned, records its entries and
// returns how many in-scope entries the reply held.
func (l *lister) query(proto string, r portRange) (int, error) {
	if err := l.spend(); err != nil {
		return 0, err
	}
	list, err := l.fetch(proto, r)
	if err != nil {
		return 0, err
	}
	return l.absorb(proto, r, list), nil
}

// fetch asks for one window (again without NewManage when the device
// refuses it). It touches only the fields under l.mu, so that finish can
// run several at once.
func (l *lister) fetch(proto string, r portRange) ([]PortMapping, error) {
	l.mu.Lock()
	manage := l.manage
	l.mu.Unlock()
	list, err := l.c.GetListOfPortMappings(l.ctx, r.lo, r.hi, proto, manage, listAskMax)
	if manage && errors.Is(err, ErrActionNotAuthorized) {
		l.mu.Lock()
		l.manage = false
		l.mu.Unlock()
		if err := l.spend(); err != nil {
			return nil, err
		}
		list, err = l.c.GetListOfPortMappings(l.ctx, r.lo, r.hi, proto, false, listAskMax)
	}
	return list, err
}

// absorb records a window's reply, marks the window scanned and returns
// how many in-scope entries it held.
func (l *lister) absorb(proto string, r portRange, list []PortMapping) int {
	n := 0
	for _, pm := range list {
		if pm.Protocol == "" {
			pm.Protocol = proto
		}
		l.learn(pm)
		if l.inScope(pm) {
			n++
		}
	}
	l.markScanned(proto, r)
	return n
}

// markScanned removes r from the protocol's holes.
func (l *lister) markScanned(proto string, r portRange) {
	holes := l.holes[proto]
	out := make([]portRange, 0, len(holes)+1)
	for _, h := range holes {
		if r.hi < h.lo || r.lo > h.hi {
			out = append(out, h)
			continue
		}
		l.unscannedPorts -= h.size()
		if h.lo < r.lo {
			out = append(out, portRange{h.lo, r.lo - 1})
			l.unscannedPorts += int(r.lo) - int(h.lo)
		}
		if h.hi > r.hi {
			out = append(out, portRange{r.hi + 1, h.hi})
			l.unscannedPorts += int(h.hi) - int(r.hi)
		}
	}
	l.holes[proto] = out
}

// generic walks GetGenericPortMappingEntry from index 0 until the device
// answers a fault, at most MaxEntries times.
func (l *lister) generic() error {
	for i := 0; i < l.opts.MaxEntries; i++ {
		pm, ok, err := l.entryAt(i)
		if err != nil {
			return err
		}
		if !ok {
			return nil
		}
		l.learn(pm)
	}
	return fmt.Errorf("%w: stopped after %d GetGenericPortMappingEntry calls (MaxEntries)", ErrListIncomplete, l.opts.MaxEntries)
}

func (l *lister) result() []PortMapping {
	out := make([]PortMapping, 0, len(l.known))
	for _, pm := range l.known {
		if l.inScope(pm) {
			out = append(out, pm)
		}
	}
	slices.SortFunc(out, func(a, b PortMapping) int {
		return cmp.Or(cmp.Compare(a.ExternalPort, b.ExternalPort), cmp.Compare(a.Protocol, b.Protocol), a.RemoteHost.Compare(b.RemoteHost))
	})
	if len(out) > l.opts.MaxEntries {
		out = out[:l.opts.MaxEntries]
	}
	return out
}
