package upnp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"
)

// SubscribeOptions configure a GENA subscription.
type SubscribeOptions struct {
	// Timeout is the subscription duration requested from the device;
	// 0 means 30 minutes. The device may grant another; the subscription
	// is renewed automatically at half the granted time.
	Timeout time.Duration
	// ListenAddr is where Subscribe's own HTTP listener listens for NOTIFY
	// requests. Zero means the local address used to reach the device,
	// with a port chosen by the system. NewSubscription ignores it.
	ListenAddr netip.AddrPort
	// HTTPClient sends SUBSCRIBE and UNSUBSCRIBE; nil means a default
	// client (no proxy, timeouts). Redirects are never followed, and
	// response headers are bounded as NewWANConnection describes.
	HTTPClient *http.Client
	// EventBuffer is the capacity of the Events channel; 0 means 16. An
	// event arriving while the channel is full is dropped (the gap shows
	// in Seq) rather than stalling the device's NOTIFY request.
	EventBuffer int
	// Logger receives debug logs; nil means no logging.
	Logger *slog.Logger

	// after replaces time.After in tests.
	after func(time.Duration) <-chan time.Time
}

// Timing of automatic renewal.
const (
	// maxRenewFailures is how many renewal rounds (renew, then a fresh
	// subscribe) may fail in a row before the subscription gives up.
	// With the backoff below that is about 90 s: a router reboot takes
	// 30-90 s, and one that comes back on the same port keeps its events.
	maxRenewFailures = 8
	// maxRenewBackoff caps the wait between failed rounds.
	maxRenewBackoff = 30 * time.Second
	// genaRequestTimeout bounds one SUBSCRIBE/UNSUBSCRIBE exchange made by
	// the renewal loop or Close.
	genaRequestTimeout = 5 * time.Second
	// maxPendingEvents bounds events held while a SUBSCRIBE is in flight.
	maxPendingEvents = 8
)

// Subscription is a GENA subscription to one service's events. It is an
// http.Handler for the NOTIFY requests the device sends to the callback
// URL; Subscribe serves it on its own listener. It renews itself until
// Close or Unsubscribe. A device that rebooted forgets the SID; the
// subscription then subscribes again (the new SID's initial event, Seq 0,
// tells the reader). If that keeps failing for about 90 s (the device
// came back on another port, or is gone), it gives up, closes Events and
// Err says why; Close must still be called to stop the listener.
type Subscription struct {
	svc      Service
	callback *url.URL
	// sender is the device's address when the event URL has an IP
	// literal host; NOTIFY from any other address is refused.
	sender  netip.Addr
	hc      *http.Client
	log     *slog.Logger
	timeout time.Duration // requested
	after   func(time.Duration) <-chan time.Time

	events chan Event

	loopCtx    context.Context
	loopCancel context.CancelFunc
	wg         sync.WaitGroup
	srv        *http.Server // Subscribe's own listener, or nil

	mu          sync.Mutex
	sid         string
	granted     time.Duration
	started     bool
	subscribing bool    // a SUBSCRIBE without SID is in flight
	pending     []Event // events received while subscribing
	closed      bool    // events channel closed
	err         error   // why the subscription ended by itself
	dropped     int

	closeOnce sync.Once
	closeErr  error
}

// NewSubscription prepares a subscription to svc's events delivered to
// callback, a URL the caller serves with the returned Subscription (an
// http.Handler). Nothing is sent until Start. Use it when NOTIFY requests
// must arrive through an existing HTTP server; Subscribe does everything.
func NewSubscription(svc Service, callback *url.URL, opts SubscribeOptions) (*Subscription, error) {
	if svc.EventSubURL == nil {
		return nil, fmt.Errorf("upnp: service %q has no eventSubURL", svc.Type)
	}
	if callback == nil || (callback.Scheme != "http") || callback.Host == "" {
		return nil, errors.New("upnp: GENA callback must be an http URL")
	}
	if strings.ContainsAny(callback.String(), "<>\r\n") {
		return nil, errors.New("upnp: GENA callback contains < > or a line break")
	}
	s := &Subscription{
		svc:      svc,
		callback: callback,
		hc:       gatewayClient(opts.HTTPClient),
		log:      opts.Logger,
		timeout:  opts.Timeout,
		after:    opts.after,
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.timeout <= 0 {
		s.timeout = defaultSubscriptionTimeout
	}
	if s.after == nil {
		s.after = time.After
	}
	n := opts.EventBuffer
	if n <= 0 {
		n = 16
	}
	s.events = make(chan Event, n)
	if a, err := netip.ParseAddr(svc.EventSubURL.Hostname()); err == nil {
		s.sender = a.Unmap().WithZone("")
	}
	s.loopCtx, s.loopCancel = context.WithCancel(context.Background())
	return s, nil
}

// Events returns the channel on which events are delivered. It is closed
// when the subscription ends.
func (s *Subscription) Events() <-chan Event { return s.events }

// Callback returns the URL the device delivers events to.
func (s *Subscription) Callback() *url.URL { c := *s.callback; return &c }

// SID returns the current subscription identifier ("" before Start). It
// changes when the subscription had to be re-established.
func (s *Subscription) SID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sid
}

// Timeout returns the duration the device granted at the last (re)newal.
func (s *Subscription) Timeout() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.granted
}

// Err returns why the subscription ended by itself (renewal kept failing),
// or nil.
func (s *Subscription) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Start sends the SUBSCRIBE request and starts automatic renewal. ctx
// bounds the request only; the subscription lives until Close.
func (s *Subscription) Start(ctx context.Context) error {
	s.mu.Lock()
	switch {
	case s.closed:
		s.mu.Unlock()
		return ErrSubscriptionClosed
	case s.started:
		s.mu.Unlock()
		return errors.New("upnp: subscription already started")
	}
	s.started = true
	s.mu.Unlock()
	if err := s.subscribe(ctx); err != nil {
		return err
	}
	s.wg.Go(s.renewLoop)
	return nil
}

// subscribe sends a SUBSCRIBE without SID and records the new SID.
func (s *Subscription) subscribe(ctx context.Context) error {
	s.mu.Lock()
	s.subscribing = true
	s.pending = nil
	s.mu.Unlock()
	sid, granted, err := s.send(ctx, "SUBSCRIBE", map[string]string{
		// Upper-case header names as in the UDA; some devices (e.g.
		// older Intel-SDK based firmwares) compare them case-sensitively.
		"CALLBACK": "<" + s.callback.String() + ">",
		"NT":       "upnp:event",
		"TIMEOUT":  formatTimeout(s.timeout),
	})
	s.mu.Lock()
	defer s.mu.Unlock()
	s.subscribing = false
	pending := s.pending
	s.pending = nil
	if err != nil {
		return err
	}
	s.sid, s.granted = sid, granted
	// The initial event may arrive before the SUBSCRIBE reply; deliver
	// those held back that belong to the new SID.
	for _, ev := range pending {
		if ev.SID == sid {
			s.deliverLocked(ev)
		}
	}
	s.log.Debug("upnp: subscribed", "url", s.svc.EventSubURL, "sid", sid, "timeout", granted)
	return nil
}

// Renew renews the subscription now. A device that no longer knows the
// SID answers 412; the error then matches ErrSubscriptionGone.
func (s *Subscription) Renew(ctx context.Context) error {
	s.mu.Lock()
	sid, closed := s.sid, s.closed
	s.mu.Unlock()
	if closed {
		return ErrSubscriptionClosed
	}
	if sid == "" {
		return errors.New("upnp: subscription not started")
	}
	newSID, granted, err := s.send(ctx, "SUBSCRIBE", map[string]string{
		"SID":     sid,
		"TIMEOUT": formatTimeout(s.timeout),
	})
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if newSID != sid {
		// UDA requires the same SID; take the device at its word.
		s.sid = newSID
	}
	s.granted = granted
	return nil
}

// send makes one SUBSCRIBE/UNSUBSCRIBE request and returns the SID and
// TIMEOUT of the reply (SUBSCRIBE only).
func (s *Subscription) send(ctx context.Context, method string, hdr map[string]string) (string, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, method, s.svc.EventSubURL.String(), nil)
	if err != nil {
		return "", 0, fmt.Errorf("upnp: %s: %w", method, err)
	}
	for k, v := range hdr {
		req.Header[k] = []string{v} // raw key: sent as written
	}
	req.Header.Set("User-Agent", "portmap UPnP/1.1")
	resp, err := s.hc.Do(req)
	if err != nil {
		return "", 0, fmt.Errorf("upnp: %s: %w", method, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode != http.StatusOK {
		return "", 0, &StatusError{Method: method, URL: s.svc.EventSubURL.Redacted(), StatusCode: resp.StatusCode}
	}
	if method != "SUBSCRIBE" {
		return "", 0, nil
	}
	sid := strings.TrimSpace(resp.Header.Get("SID"))
	if sid == "" || len(sid) > 256 {
		return "", 0, fmt.Errorf("%w: SUBSCRIBE reply without a usable SID", ErrMalformedEvent)
	}
	granted, ok := parseTimeout(resp.Header.Get("TIMEOUT"))
	if !ok {
		// Missing, garbage or "infinite": renew as if we got what we asked.
		granted = s.timeout
	}
	return sid, granted, nil
}

// renewLoop renews at half the granted time; when a renewal fails it
// subscribes afresh (a rebooted device forgot the SID), retrying with
// backoff, and gives up after maxRenewFailures rounds in a row.
func (s *Subscription) renewLoop() {
	ctx := s.loopCtx
	failures := 0
	for {
		s.mu.Lock()
		wait := max(s.granted/2, time.Second)
		s.mu.Unlock()
		if failures > 0 {
			// 1, 2, 4, 8, 16, 30, 30 s
			wait = min(time.Second<<(failures-1), maxRenewBackoff)
		}
		select {
		case <-ctx.Done():
			return
		case <-s.after(wait):
		}
		rctx, cancel := context.WithTimeout(ctx, genaRequestTimeout)
		err := s.Renew(rctx)
		if err != nil && ctx.Err() == nil {
			s.log.Debug("upnp: renewal failed, subscribing again", "err", err)
			err = s.subscribe(rctx)
		}
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case err == nil:
			failures = 0
			continue
		}
		failures++
		s.log.Debug("upnp: resubscribe failed", "failures", failures, "err", err)
		if failures >= maxRenewFailures {
			s.mu.Lock()
			s.err = fmt.Errorf("upnp: GENA subscription lost after %d attempts: %w", failures, err)
			s.closeEventsLocked()
			s.mu.Unlock()
			return
		}
	}
}

// Unsubscribe stops renewal, sends UNSUBSCRIBE, stops the listener started
// by Subscribe and closes Events. It returns the UNSUBSCRIBE error, if any.
// It may be called once; later calls (and Close) return the same result.
func (s *Subscription) Unsubscribe(ctx context.Context) error {
	s.closeOnce.Do(func() {
		s.loopCancel()
		s.mu.Lock()
		sid, ended := s.sid, s.err != nil
		s.mu.Unlock()
		if sid != "" && !ended {
			_, _, s.closeErr = s.send(ctx, "UNSUBSCRIBE", map[string]string{"SID": sid})
		}
		if s.srv != nil {
			s.srv.Close()
		}
		s.wg.Wait()
		s.mu.Lock()
		s.closeEventsLocked()
		s.mu.Unlock()
	})
	return s.closeErr
}

// Close is Unsubscribe with a 5 s bound.
func (s *Subscription) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), genaRequestTimeout)
	defer cancel()
	return s.Unsubscribe(ctx)
}

func (s *Subscription) closeEventsLocked() {
	if !s.closed {
		s.closed = true
		close(s.events)
	}
}

// deliver hands an event to the subscriber. It reports false when the SID
// is not this subscription's.
func (s *Subscription) deliver(ev Event) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	if s.subscribing {
		if len(s.pending) < maxPendingEvents {
			s.pending = append(s.pending, ev)
		}
		return true
	}
	if ev.SID != s.sid {
		return false
	}
	s.deliverLocked(ev)
	return true
}

func (s *Subscription) deliverLocked(ev Event) {
	select {
	case s.events <- ev:
	default:
		s.dropped++
		s.log.Debug("upnp: event dropped, channel full", "seq", ev.Seq, "dropped", s.dropped)
	}
}
