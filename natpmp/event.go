package natpmp

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
)

// Event tells about a change at the gateway that users of a [Client] may
// need to act on. Events come from the epoch check of every reply and from
// announcements (see [Client.ListenAnnouncements]).
type Event struct {
	Gateway netip.Addr
	// Epoch is the gateway's seconds since start of epoch.
	Epoch uint32
	// Reboot is set when the epoch ran backwards (RFC 6886 §3.6): the
	// gateway rebooted or lost its state, and its mappings must be created
	// again.
	Reboot bool
	// ExternalAddr is the external address carried by the reply or
	// announcement behind the event, if it carried one.
	ExternalAddr netip.Addr
	// AddressChanged is set when ExternalAddr differs from the external
	// address the client knew before (from a reply or an announcement), or
	// is the first one learnt from an announcement.
	AddressChanged bool
	// Announced is set when the event came from an announcement.
	Announced bool
}

// merge folds an older, unconsumed event into e.
func (e Event) merge(old Event) Event {
	e.Reboot = e.Reboot || old.Reboot
	e.Announced = e.Announced || old.Announced
	e.AddressChanged = e.AddressChanged || old.AddressChanged
	if !e.ExternalAddr.IsValid() {
		e.ExternalAddr = old.ExternalAddr
	}
	return e
}

// noteEpoch runs the RFC 6886 §3.6 epoch check on a well-formed reply from
// the gateway, matched or not, and emits an event for a reboot.
func (c *Client) noteEpoch(resp Response) {
	if !c.epoch.Observe(resp.Epoch, c.cfg.clock.Now()) {
		return
	}
	c.log("natpmp: gateway epoch ran backwards: reboot", slog.Uint64("epoch", uint64(resp.Epoch)))
	ev := Event{Gateway: c.gw.Addr(), Epoch: resp.Epoch, Reboot: true}
	if resp.Op == OpReply|OpExternalAddress && resp.Result == ResultSuccess {
		ev.ExternalAddr = resp.ExternalAddr
	}
	c.emit(ev)
}

// noteAddress records the external address of a matched reply and emits an
// event when it differs from the one known before. (Only matched replies
// count: a late duplicate could carry an address that is no longer true.)
func (c *Client) noteAddress(epoch uint32, ext netip.Addr) {
	c.mu.Lock()
	changed := c.external.IsValid() && c.external != ext
	c.external = ext
	c.mu.Unlock()
	if changed {
		c.emit(Event{Gateway: c.gw.Addr(), Epoch: epoch, ExternalAddr: ext, AddressChanged: true})
	}
}

// ListenAnnouncements starts receiving the gateway's announcements (RFC 6886
// §3.2.1), on 224.0.0.1:5350 unless [WithAnnounceAddr] or
// [WithAnnounceConn] was given to [NewClient]. Only those sent from the
// gateway's address and port (as given to [NewClient], 5351 by default) are
// accepted. They go through the same epoch check as the replies, and
// reboots and new external addresses are reported on [Client.Events].
// Listening stops when ctx ends or the client is closed. It is an error to
// call it while already listening.
func (c *Client) ListenAnnouncements(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	if c.announcer != nil {
		select {
		case <-c.announcer.done:
		default:
			return errors.New("natpmp: already listening for announcements")
		}
	}
	cfg := *c.cfg
	cfg.tracker = &c.epoch
	l, err := newListener(ctx, c.gw, &cfg)
	if err != nil {
		return err
	}
	l.deliver = func(a Announcement, _ <-chan struct{}) {
		// The epoch was checked by the listener with the client's tracker.
		c.noteAnnouncement(a)
	}
	c.announcer = l
	l.start(ctx)
	return nil
}

// noteAnnouncement turns an announcement into an event when it says
// something new.
func (c *Client) noteAnnouncement(a Announcement) {
	var ext netip.Addr
	if a.Result == ResultSuccess {
		ext = a.ExternalAddr
	}
	changed := false
	if ext.IsValid() {
		c.mu.Lock()
		changed = c.external != ext
		c.external = ext
		c.mu.Unlock()
	}
	if a.Reboot || changed {
		c.emit(Event{Gateway: a.Gateway, Epoch: a.Epoch, Reboot: a.Reboot, ExternalAddr: ext, AddressChanged: changed, Announced: true})
	}
}
