package natpmp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"
)

// readLoop receives datagrams until the socket is closed and hands the
// gateway's well-formed replies to the waiting request.
func (c *Client) readLoop() {
	defer c.readers.Done()
	buf := make([]byte, maxPacket)
	for {
		n, from, err := c.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			select {
			case <-c.done:
				return
			default:
			}
			if isRefused(err) {
				c.log("natpmp: port unreachable")
				c.deliver(packet{err: ErrNotSupported})
				continue
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Another error of a socket that stays open: report it to
			// the waiting request, and pause a little so that a
			// persistent error cannot spin.
			c.deliver(packet{err: fmt.Errorf("natpmp: receive: %w", err)})
			select {
			case <-c.done:
				return
			case <-time.After(10 * time.Millisecond):
			}
			continue
		}
		// RFC 6886 §3.1: replies from any other address (or port) are
		// silently discarded.
		if from.Addr().Unmap() != c.gw.Addr() || from.Port() != c.gw.Port() {
			c.log("natpmp: dropped packet from another source", slog.String("from", from.String()))
			continue
		}
		resp, err := ParseResponse(buf[:n])
		if err != nil {
			c.log("natpmp: dropped packet", slog.Any("error", err))
			continue
		}
		// RFC 6886 §3.6: the epoch of every well-formed packet from the
		// gateway is checked, whether or not it answers the request
		// outstanding (a late duplicate may be the first to show a
		// reboot), and before the waiting request sees it.
		c.noteEpoch(resp)
		c.deliver(packet{resp: resp})
	}
}

func (c *Client) deliver(p packet) {
	select {
	case c.replies <- p:
	default: // nobody is waiting and the buffer is full: drop it
	}
}

// do sends req and waits for the matching reply, retransmitting on the RFC
// 6886 §3.1 schedule. It returns the reply with a success result, or an
// error (a *ResultError for other results).
func (c *Client) do(ctx context.Context, req Request) (Response, matchResult, error) {
	if err := c.enter(); err != nil {
		return Response{}, noMatch, err
	}
	defer c.calls.Done()
	if err := ctx.Err(); err != nil {
		return Response{}, noMatch, c.ctxError(req, 0, err)
	}
	pkt, err := req.MarshalBinary()
	if err != nil {
		return Response{}, noMatch, err
	}
	if err := c.queue.lock(ctx, c.done); err != nil {
		return Response{}, noMatch, c.ctxError(req, 0, err)
	}
	defer c.queue.unlock()

	// Forget replies that arrived while no request of ours was outstanding.
	for drained := false; !drained; {
		select {
		case <-c.replies:
		default:
			drained = true
		}
	}

	wait := c.cfg.initialTimeout
	for attempt := 1; attempt <= c.cfg.maxAttempts; attempt++ {
		c.log("natpmp: send", slog.String("op", req.Op.String()), slog.Int("attempt", attempt),
			slog.Int("internal_port", int(req.InternalPort)), slog.Int("suggested_port", int(req.SuggestedExternalPort)),
			slog.Int("lifetime", int(req.Lifetime)))
		if _, err := c.conn.Write(pkt); err != nil {
			if isRefused(err) {
				return Response{}, noMatch, fmt.Errorf("%w: %v answered port unreachable", ErrNotSupported, c.gw)
			}
			select {
			case <-c.done:
				return Response{}, noMatch, ErrClosed
			default:
			}
			return Response{}, noMatch, fmt.Errorf("natpmp: send to %v: %w", c.gw, err)
		}
		t := c.cfg.clock.NewTimer(wait)
		resp, m, expired, err := c.await(ctx, t, req, attempt)
		t.Stop()
		if !expired {
			return resp, m, err
		}
		wait *= 2
	}
	return Response{}, noMatch, fmt.Errorf("%w: %v did not answer %v after %d tries", ErrTimeout, c.gw, req.Op, c.cfg.maxAttempts)
}

// await waits for one try: it returns expired when the timer fires first.
func (c *Client) await(ctx context.Context, t timer, req Request, attempt int) (_ Response, _ matchResult, expired bool, _ error) {
	for {
		select {
		case p := <-c.replies:
			if p.err != nil {
				if errors.Is(p.err, ErrNotSupported) {
					return Response{}, noMatch, false, fmt.Errorf("%w: %v answered port unreachable", ErrNotSupported, c.gw)
				}
				return Response{}, noMatch, false, p.err
			}
			m := match(req, p.resp)
			if m == noMatch {
				c.log("natpmp: dropped unmatched reply", slog.String("op", p.resp.Op.String()),
					slog.Int("internal_port", int(p.resp.InternalPort)))
				continue
			}
			c.log("natpmp: reply", slog.String("op", p.resp.Op.String()), slog.String("result", p.resp.Result.String()),
				slog.Uint64("epoch", uint64(p.resp.Epoch)), slog.Int("internal_port", int(p.resp.InternalPort)),
				slog.Int("external_port", int(p.resp.ExternalPort)), slog.Int("lifetime", int(p.resp.Lifetime)))
			if p.resp.Op == OpReply|OpExternalAddress && p.resp.Result == ResultSuccess {
				c.noteAddress(p.resp.Epoch, p.resp.ExternalAddr)
			}
			if p.resp.Result != ResultSuccess {
				return p.resp, m, false, &ResultError{Code: p.resp.Result, Op: req.Op, Epoch: p.resp.Epoch}
			}
			return p.resp, m, false, nil
		case <-t.C():
			return Response{}, noMatch, true, nil
		case <-ctx.Done():
			return Response{}, noMatch, false, c.ctxError(req, attempt, ctx.Err())
		case <-c.done:
			return Response{}, noMatch, false, ErrClosed
		}
	}
}

// ctxError wraps an error that ended a call before a reply: a passed
// deadline is also an ErrTimeout.
func (c *Client) ctxError(req Request, tries int, err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		if tries == 0 {
			return fmt.Errorf("%w: %v not sent to %v (waiting for earlier requests): %w", ErrTimeout, req.Op, c.gw, err)
		}
		return fmt.Errorf("%w: %v did not answer %v after %d tries: %w", ErrTimeout, c.gw, req.Op, tries, err)
	}
	if errors.Is(err, ErrClosed) {
		return err
	}
	return fmt.Errorf("natpmp: %v to %v: %w", req.Op, c.gw, err)
}
