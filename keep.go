package portmap

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portmap-dev/portmap/natpmp"
	"github.com/portmap-dev/portmap/pcp"
	"github.com/portmap-dev/portmap/upnp"
)

// KeeperOptions tune a [Keeper].
type KeeperOptions struct {
	// Discovery finds the gateway again when it stops answering (it may
	// have rebooted with another UPnP port, or the host moved to another
	// network).
	Discovery Options
	// OnEvent, if set, is called for every event, from the keeper's own
	// goroutine: it must not block for long.
	OnEvent func(Event)
	// CheckInterval is how often the keeper asks the gateway, with one
	// small request, whether it rebooted, besides renewing the mappings and
	// listening for its announcements. Default 3 s: many gateways
	// (miniupnpd among them) announce nothing when they start, and a lost
	// mapping should come back within seconds.
	CheckInterval time.Duration
	// MaxBackoff bounds the wait between attempts while the gateway is
	// unreachable or refuses. Default 1 minute.
	MaxBackoff time.Duration
	// DeleteTimeout bounds the deletion of every mapping when the keeper
	// stops. Default 5 s.
	DeleteTimeout time.Duration
}

// Keeper holds mappings alive: it renews each at about half its lifetime
// (PCP: at a random point in 1/2–5/8, RFC 6887 §11.2.1), makes them again
// when the gateway reboots or loses them, follows the gateway to a new
// address or protocol, and deletes them all when it stops.
//
// It hears the gateway through every signal the protocol has: NAT-PMP and
// PCP epochs and announcements, UPnP SSDP NOTIFY (BOOTID.UPNP.ORG) and
// GENA events (ExternalIPAddress, ConnectionStatus), plus one small
// request every CheckInterval. While the gateway is silent it backs off
// (up to MaxBackoff) with one attempt at a time, and it retries at once
// when a check is answered again; a gateway that refuses the connection
// or answers "port unreachable" is looked for anew (Discovery), in the
// background.
type Keeper struct {
	opts KeeperOptions
	// given is the client the keeper was made with (its caller closes
	// it); the keeper closes the ones it found itself.
	given *Client

	mu      sync.Mutex
	client  *Client
	entries []*entry
	stopped bool

	wake    chan struct{} // something changed: look at the entries again
	signals chan gatewaySignal
	// found receives the client of a finished rediscovery; searching is
	// set while one runs (in the background: a gateway that stays silent
	// takes discovery its whole timeout, and the keeper keeps checking
	// and retrying meanwhile).
	found     chan *Client
	searching atomic.Bool
	searches  sync.WaitGroup
	watchMu   sync.Mutex
	unwatch   context.CancelFunc
	watchers  sync.WaitGroup // the watch goroutines
	done      chan struct{}  // closed when Run has returned

	// lastContact is when the gateway last answered a renewal: a reply
	// that recent makes a check redundant (its epoch was checked too).
	lastContact atomic.Int64 // unix nanoseconds
}

// entry is one kept mapping.
type entry struct {
	req     Request
	m       Mapping
	ok      bool      // the mapping is believed to exist
	due     time.Time // next renewal, or next attempt when !ok
	backoff time.Duration
	// thisHost: the mapping is to this host, wherever it moves.
	thisHost bool
	// made: the mapping was made at least once; madeAt: when last.
	made   bool
	madeAt time.Time
	// failures counts the attempts that failed since the last success.
	failures int
	// unanswered: the last attempt got no answer (the gateway was
	// unreachable), rather than a refusal.
	unanswered bool
}

// gatewaySignal is something the gateway said that may need action.
type gatewaySignal struct {
	reboot bool
	// bootedAt is the latest time the gateway can have started: mappings
	// made after it survived the reboot. Zero means unknown: all are lost.
	bootedAt       time.Time
	addressChanged bool
	external       netip.Addr
}

// watcher is implemented by backends that can hear the gateway: NAT-PMP and
// PCP announcements and epochs, UPnP SSDP NOTIFY and GENA.
type watcher interface {
	watch(ctx context.Context, fn func(gatewaySignal))
}

// pinger is implemented by backends that can check the gateway with one
// small request (NAT-PMP external address, PCP ANNOUNCE, UPnP
// GetStatusInfo): a reboot it reveals is reported through watch, or
// returned as a signal.
type pinger interface {
	ping(ctx context.Context) (gatewaySignal, error)
}

// NewKeeper returns a keeper that maps through c. Call [Keeper.Add] for each
// mapping and [Keeper.Run] to keep them.
func NewKeeper(c *Client, opts KeeperOptions) *Keeper {
	if opts.CheckInterval <= 0 {
		opts.CheckInterval = 3 * time.Second
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = time.Minute
	}
	if opts.DeleteTimeout <= 0 {
		opts.DeleteTimeout = 5 * time.Second
	}
	return &Keeper{
		opts:    opts,
		given:   c,
		client:  c,
		wake:    make(chan struct{}, 1),
		signals: make(chan gatewaySignal, 8),
		found:   make(chan *Client),
		done:    make(chan struct{}),
	}
}

// Keep makes the mapping req asks for and keeps it until ctx ends, then
// deletes it. It returns the first mapping at once, or the error that kept
// it from being made; later changes go to opts.OnEvent, and the keeper's
// Done channel closes once the mapping is deleted.
func Keep(ctx context.Context, c *Client, req Request, opts KeeperOptions) (Mapping, *Keeper, error) {
	k := NewKeeper(c, opts)
	m, err := k.Add(ctx, req)
	if err != nil {
		return Mapping{}, nil, err
	}
	go k.Run(ctx)
	return m, k, nil
}

// Add makes a mapping now and keeps it from then on.
func (k *Keeper) Add(ctx context.Context, req Request) (Mapping, error) {
	c := k.currentClient()
	m, err := c.Add(ctx, req)
	if err != nil {
		return Mapping{}, err
	}
	thisHost := !req.InternalIP.IsValid() || req.InternalIP == c.LocalAddr()
	req.InternalIP = m.Internal.Addr()
	k.mu.Lock()
	if k.stopped {
		k.mu.Unlock()
		c.Delete(context.WithoutCancel(ctx), m)
		return Mapping{}, errors.New("portmap: keeper stopped")
	}
	k.entries = append(k.entries, &entry{req: req, m: m, ok: true, due: renewAt(m), thisHost: thisHost, made: true, madeAt: time.Now()})
	k.mu.Unlock()
	k.emit(Event{Kind: Created, Mapping: m})
	k.poke()
	return m, nil
}

// Hold adds a mapping to keep without making it now: Run makes it, and
// retries with backoff while the gateway refuses or does not answer. It
// suits daemons that start before the network is up.
func (k *Keeper) Hold(req Request) {
	k.mu.Lock()
	e := &entry{req: req, due: time.Now(), thisHost: !req.InternalIP.IsValid()}
	e.m = Mapping{Transport: req.Transport, Internal: netip.AddrPortFrom(req.InternalIP, req.InternalPort),
		External: netip.AddrPortFrom(netip.Addr{}, req.ExternalPort), Description: req.Description}
	k.entries = append(k.entries, e)
	k.mu.Unlock()
	k.poke()
}

// Done is closed when Run has returned: the mappings are deleted.
func (k *Keeper) Done() <-chan struct{} { return k.done }

// Mappings returns the kept mappings as they are now.
func (k *Keeper) Mappings() []Mapping {
	k.mu.Lock()
	defer k.mu.Unlock()
	ms := make([]Mapping, 0, len(k.entries))
	for _, e := range k.entries {
		ms = append(ms, e.m)
	}
	return ms
}

// Client returns the client the keeper maps through now; it changes when
// the gateway is found again after a failure.
func (k *Keeper) Client() *Client { return k.currentClient() }

func (k *Keeper) currentClient() *Client {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.client
}

func (k *Keeper) poke() {
	select {
	case k.wake <- struct{}{}:
	default:
	}
}

func (k *Keeper) emit(e Event) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	if k.opts.OnEvent != nil {
		k.opts.OnEvent(e)
	}
}

// renewAt is when to renew m: at half its lifetime, PCP at a random point
// in 1/2–5/8 (RFC 6887 §11.2.1) so that clients do not renew in step.
// Permanent mappings are only checked.
func renewAt(m Mapping) time.Time {
	if m.Lifetime <= 0 {
		return time.Now().Add(24 * time.Hour)
	}
	d := m.Lifetime / 2
	if m.Protocol == PCP {
		d += time.Duration(rand.Int64N(int64(m.Lifetime/8) + 1))
	}
	return time.Now().Add(d)
}

// Run keeps the mappings until ctx ends, then deletes them (bounded by
// DeleteTimeout) and returns. It returns nil after a clean stop.
func (k *Keeper) Run(ctx context.Context) error {
	var checker sync.WaitGroup
	defer func() {
		checker.Wait()
		k.searches.Wait()
		k.stop()
		k.watchers.Wait()
		close(k.done)
	}()
	lost := make(chan struct{}, 1) // the checker found the gateway gone
	checker.Go(func() { k.checkLoop(ctx, lost) })
	k.startWatch(ctx)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		timer.Reset(time.Until(k.nextDue()))
		select {
		case <-ctx.Done():
			return nil
		case <-k.wake:
		case <-timer.C:
			k.work(ctx)
		case sig := <-k.signals:
			k.onSignal(ctx, sig)
		case <-lost:
			k.rediscover(ctx)
		case c := <-k.found:
			k.switchTo(ctx, c)
		}
	}
}

func (k *Keeper) nextDue() time.Time {
	k.mu.Lock()
	defer k.mu.Unlock()
	next := time.Now().Add(time.Hour)
	for _, e := range k.entries {
		if e.due.Before(next) {
			next = e.due
		}
	}
	return next
}

// startWatch listens to the current client's gateway, if it can.
func (k *Keeper) startWatch(ctx context.Context) {
	k.watchMu.Lock()
	defer k.watchMu.Unlock()
	if k.unwatch != nil {
		k.unwatch()
	}
	wctx, cancel := context.WithCancel(ctx)
	k.unwatch = cancel
	if w, ok := k.currentClient().b.(watcher); ok {
		k.watchers.Go(func() {
			w.watch(wctx, func(s gatewaySignal) {
				select {
				case k.signals <- s:
				case <-wctx.Done():
				}
			})
		})
	}
}

// work renews what is due and retries what was lost.
func (k *Keeper) work(ctx context.Context) {
	now := time.Now()
	k.mu.Lock()
	var due []*entry
	for _, e := range k.entries {
		if !e.due.After(now) {
			due = append(due, e)
		}
	}
	k.mu.Unlock()
	for i, e := range due {
		if ctx.Err() != nil {
			return
		}
		if !k.refresh(ctx, e) {
			// The gateway is silent: the other attempts would only
			// wait out their timeouts one after another. They follow
			// this one's schedule, and checks tell when it is back.
			k.postpone(e, due[i+1:])
			return
		}
	}
}

// postpone moves the attempts of rest to when e is tried next.
func (k *Keeper) postpone(e *entry, rest []*entry) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, o := range rest {
		o.due = e.due
		if !o.ok {
			o.unanswered = true
		}
	}
}

// attemptTimeout bounds one renewal or re-creation.
const attemptTimeout = 10 * time.Second

// attemptBudget is how long one renewal of a live mapping may take: a third
// of what is left of its lease (at least a second, at most attemptTimeout).
// The protocols' retransmission timers double from 250 ms; starting a
// fresh attempt when a third has gone keeps trying every few hundred
// milliseconds while the lease runs out, instead of waiting out one long
// backoff while packets are being lost.
func attemptBudget(m Mapping, alive bool) time.Duration {
	if !alive || m.Expires.IsZero() {
		return attemptTimeout
	}
	return min(max(time.Until(m.Expires)/3, time.Second), attemptTimeout)
}

// retryAlive is how soon a failed renewal of a mapping that may still
// exist is tried again.
const retryAlive = 100 * time.Millisecond

// refresh renews e, or makes it again if it was lost. It returns false
// when the attempt went unanswered.
func (k *Keeper) refresh(ctx context.Context, e *entry) (answer bool) {
	c := k.currentClient()
	k.mu.Lock()
	old, wasOK, failures, made, silent := e.m, e.ok, e.failures, e.made, e.unanswered
	k.mu.Unlock()
	budget := attemptBudget(old, wasOK)
	if !wasOK && silent {
		// The gateway did not answer last time: a short attempt, so
		// that the keeper soon hears it again when it is back.
		budget = min(budget, max(k.opts.CheckInterval, time.Second))
	}
	actx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	var m Mapping
	var err error
	if made && old.Protocol == c.Protocol() && old.Gateway == c.Gateway() && (wasOK || failures < 3) {
		// Renewing also makes a lost mapping again, on the same port and,
		// for PCP, with the same nonce (servers that lost it accept that).
		m, err = c.Refresh(actx, old, e.req.Lifetime)
	} else {
		req := e.req
		if old.External.Port() != 0 && !req.ExactPort {
			req.ExternalPort = old.External.Port() // keep the port if the gateway still can
		}
		if e.thisHost {
			req.InternalIP = c.LocalAddr() // this host may have moved
		}
		m, err = c.Add(actx, req)
	}
	if err != nil {
		if ctx.Err() != nil {
			return true // stopping: not the gateway's failure
		}
		k.failed(ctx, e, old, err)
		return answered(err)
	}
	k.lastContact.Store(time.Now().UnixNano())
	k.mu.Lock()
	e.m, e.ok, e.backoff, e.failures, e.due, e.made, e.madeAt = m, true, 0, 0, renewAt(m), true, time.Now()
	e.unanswered = false
	k.mu.Unlock()
	switch {
	case !made:
		k.emit(Event{Kind: Created, Mapping: m})
	case !wasOK:
		k.emit(Event{Kind: Restored, Mapping: m})
	case m.External.Addr() != old.External.Addr() && old.External.Addr().IsValid():
		k.emit(Event{Kind: AddressChanged, Mapping: m})
	default:
		k.emit(Event{Kind: Renewed, Mapping: m})
	}
	return true
}

// failed records a failed attempt and schedules the next with backoff. A
// mapping whose lease has not run out is still believed to exist (the
// renewal or its answer may have been lost); one that ran out is lost. A
// gateway that stopped answering is looked for again.
func (k *Keeper) failed(ctx context.Context, e *entry, old Mapping, err error) {
	now := time.Now()
	k.mu.Lock()
	wasOK := e.ok
	e.ok = e.ok && (old.Expires.IsZero() || now.Before(old.Expires))
	lostNow := wasOK && !e.ok && e.made
	e.failures++
	e.unanswered = !answered(err)
	switch {
	case e.ok && !old.Expires.IsZero():
		// Keep trying while the lease lasts: the request or its answer
		// was probably lost.
		e.due = now.Add(retryAlive)
	default:
		if e.backoff == 0 {
			e.backoff = time.Second
		} else {
			e.backoff = min(2*e.backoff, k.opts.MaxBackoff)
		}
		e.due = now.Add(e.backoff)
	}
	k.mu.Unlock()
	if lostNow {
		k.emit(Event{Kind: Lost, Mapping: old, Err: err})
	} else {
		k.emit(Event{Kind: Failed, Mapping: old, Err: err})
	}
	k.mu.Lock()
	lookAgain := gone(err) || (!e.ok && e.failures >= lookAgainAfter)
	k.mu.Unlock()
	if lookAgain {
		k.rediscover(ctx)
	}
}

// gone reports errors that mean the gateway (or its UPnP HTTP server) is
// not where it was: nothing listens there any more. A timeout is not
// enough on its own: packets may just be getting lost.
func gone(err error) bool {
	var noGW *NoGatewayError
	return errors.As(err, &noGW) || isConnRefused(err) ||
		// ICMP port unreachable, as the NAT-PMP and PCP clients report it.
		errors.Is(err, natpmp.ErrNotSupported) || errors.Is(err, pcp.ErrUnreachable)
}

// answered reports errors that carry the gateway's own answer: a
// refusal, as opposed to silence or an unreachable gateway.
func answered(err error) bool {
	var (
		ne *natpmp.ResultError
		pe *pcp.ResultError
		se *upnp.SOAPError
	)
	return errors.As(err, &ne) || errors.As(err, &pe) || errors.As(err, &se)
}

// lookAgainAfter is how many failed attempts in a row, once a mapping's
// lease has run out, make the keeper look for the gateway again.
const lookAgainAfter = 3

// rediscover starts looking for the gateway again, unless a search is
// already running; Run switches to what answers.
func (k *Keeper) rediscover(ctx context.Context) {
	if !k.searching.CompareAndSwap(false, true) {
		return
	}
	k.searches.Go(func() {
		defer k.searching.Store(false)
		dctx, cancel := context.WithTimeout(ctx, attemptTimeout)
		defer cancel()
		c, err := Discover(dctx, k.opts.Discovery)
		if err != nil {
			return
		}
		select {
		case k.found <- c:
		case <-ctx.Done():
			c.Close()
		}
	})
}

// switchTo maps through c from now on: every mapping is made again there.
func (k *Keeper) switchTo(ctx context.Context, c *Client) {
	k.mu.Lock()
	old := k.client
	k.client = c
	for _, e := range k.entries {
		e.ok = false
		e.due = time.Now()
	}
	k.mu.Unlock()
	if old != nil && old != c && old != k.given {
		old.Close()
	}
	k.startWatch(ctx)
	k.poke()
}

// onSignal reacts to what the gateway said: after a reboot, every mapping
// made before the gateway started again is made again at once.
func (k *Keeper) onSignal(ctx context.Context, s gatewaySignal) {
	if !s.reboot && !s.addressChanged {
		return
	}
	var lost []Mapping
	now := time.Now()
	k.mu.Lock()
	for _, e := range k.entries {
		if s.reboot && e.ok && (s.bootedAt.IsZero() || e.madeAt.Before(s.bootedAt)) {
			e.ok = false
			e.due = now
			lost = append(lost, e.m)
		}
		if s.reboot && !e.ok && e.made {
			// Lost before (the gateway was unreachable): it answers
			// again, so try now rather than after the backoff.
			e.due = now
		}
		if s.addressChanged && e.ok {
			e.due = now // renew: the mapping's external address changed
		}
	}
	k.mu.Unlock()
	for _, m := range lost {
		k.emit(Event{Kind: Lost, Mapping: m, Err: errGatewayRebooted})
	}
	k.work(ctx)
}

var errGatewayRebooted = errors.New("the gateway rebooted")

// renewing reports whether a renewal or an attempt is due within a
// CheckInterval, or a live mapping's renewal is being retried. A lost
// mapping waiting out a long backoff does not count: checks go on then,
// and tell when the gateway is back.
func (k *Keeper) renewing() bool {
	soon := time.Now().Add(k.opts.CheckInterval)
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, e := range k.entries {
		if (e.ok && e.failures > 0) || e.due.Before(soon) {
			return true
		}
	}
	return false
}

// gatewayAnswers is called when a check got an answer: mappings whose
// attempts went unanswered are tried again now, instead of after their
// backoff (up to MaxBackoff), so that a gateway back from a long outage
// gets its mappings within a CheckInterval.
func (k *Keeper) gatewayAnswers() {
	now := time.Now()
	k.mu.Lock()
	hasten := false
	for _, e := range k.entries {
		if !e.ok && e.unanswered && e.due.After(now) {
			e.due, e.unanswered, hasten = now, false, true
		}
	}
	k.mu.Unlock()
	if hasten {
		k.poke()
	}
}

// checkLoop asks the gateway every CheckInterval, with one small request,
// whether it rebooted or went away. It runs beside Run's loop so that a
// slow answer (packet loss) never delays a renewal.
func (k *Keeper) checkLoop(ctx context.Context, lost chan<- struct{}) {
	t := time.NewTicker(k.opts.CheckInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		p, ok := k.currentClient().b.(pinger)
		if !ok || time.Since(time.Unix(0, k.lastContact.Load())) < k.opts.CheckInterval || k.renewing() {
			// A recent renewal answered, or one is about to be sent or
			// retried: it tells as much as a check would. Checks never
			// compete with renewals for the gateway (NAT-PMP sends one
			// request at a time, and packets may be getting lost).
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, k.opts.CheckInterval)
		sig, err := p.ping(cctx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case err != nil && gone(err):
			select {
			case lost <- struct{}{}:
			default:
			}
		case err == nil && (sig.reboot || sig.addressChanged):
			select {
			case k.signals <- sig:
			case <-ctx.Done():
				return
			}
		case err == nil:
			k.gatewayAnswers()
		}
	}
}

// stop deletes every mapping, bounded by DeleteTimeout.
func (k *Keeper) stop() {
	k.watchMu.Lock()
	if k.unwatch != nil {
		k.unwatch()
	}
	k.watchMu.Unlock()
	k.mu.Lock()
	k.stopped = true
	entries := k.entries
	k.entries = nil
	c := k.client
	k.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), k.opts.DeleteTimeout)
	defer cancel()
	for _, e := range entries {
		if !e.ok && e.m.Protocol != c.Protocol() {
			continue
		}
		err := c.Delete(ctx, e.m)
		k.emit(Event{Kind: Deleted, Mapping: e.m, Err: err})
	}
	if c != k.given {
		c.Close()
	}
}
