package pcp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"
)

// do sends req and retransmits it (RFC 6887 §8.1.1) until a matching
// response, the retransmission limits, the context's end or Close. A
// request under an error hold-down is refused with the held error.
func (c *Client) do(ctx context.Context, req *Request) (reply, error) {
	if err := ctx.Err(); err != nil {
		return reply{}, err
	}
	clk := c.cfg.clock
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return reply{}, ErrClosed
	}
	if e := c.holds.check(req, clk.Now()); e != nil {
		c.stats.HeldDown++
		c.mu.Unlock()
		return reply{}, e
	}
	c.mu.Unlock()

	b, err := req.MarshalBinary()
	if err != nil {
		return reply{}, err
	}
	cl := &call{req: req, ch: make(chan reply, 1)}
	c.mu.Lock()
	c.calls[cl] = struct{}{}
	c.stats.Requests++
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.calls, cl)
		c.mu.Unlock()
	}()

	sched := newSchedule(c.cfg.retransmit, c.cfg.rand)
	var mrdEnd time.Time
	if mrd := c.cfg.retransmit.MRD; mrd > 0 {
		mrdEnd = clk.Now().Add(mrd)
	}
	sent := 0
	for {
		rt, ok := sched.next()
		if !ok {
			return reply{}, fmt.Errorf("%w after %d transmissions", ErrNoResponse, sent)
		}
		if !mrdEnd.IsZero() {
			left := mrdEnd.Sub(clk.Now())
			if left <= 0 {
				return reply{}, fmt.Errorf("%w after %d transmissions", ErrNoResponse, sent)
			}
			rt = min(rt, left)
		}
		sent++
		c.mu.Lock()
		cl.sent = sent // before the packet leaves: its answer may come at once
		c.stats.Transmissions++
		c.mu.Unlock()
		if _, err := c.conn.Write(b); err != nil {
			if errors.Is(err, net.ErrClosed) {
				return reply{}, ErrClosed
			}
			if errors.Is(err, syscall.ECONNREFUSED) {
				return reply{}, ErrUnreachable
			}
			// Other send errors (e.g. no route yet) are treated as a lost
			// packet: the schedule retransmits.
			c.logDebug("pcp: send failed", "server", c.server, "err", err)
		}
		c.logDebug("pcp: request", "server", c.server, "opcode", req.Opcode, "lifetime", req.Lifetime, "try", sent, "wait", rt)
		t := clk.NewTimer(rt)
		select {
		case r := <-cl.ch:
			t.Stop()
			if r.err != nil {
				return r, r.err
			}
			return r, c.resultErr(req, r)
		case <-t.C():
		case <-ctx.Done():
			t.Stop()
			return reply{}, fmt.Errorf("%w after %d transmissions: %w", ErrNoResponse, sent, ctx.Err())
		case <-c.done:
			t.Stop()
			return reply{}, ErrClosed
		}
	}
}

// resultErr turns an error response into the error to return, and records
// its hold-down.
func (c *Client) resultErr(req *Request, r reply) error {
	resp := r.resp
	if resp.Result == Success {
		return nil
	}
	if resp.Result == UnsuppVersion {
		// RFC 6887 §9: not retransmitted and not remembered; the caller
		// falls back (to NAT-PMP for version 0) and PCP is tried again on
		// the next request.
		return &VersionError{ServerVersion: resp.Version, Server: c.server, Epoch: resp.Epoch, NATPMP: resp.Version == 0}
	}
	e := &ResultError{
		Code:     resp.Result,
		Opcode:   req.Opcode,
		Server:   c.server,
		Lifetime: time.Duration(resp.Lifetime) * time.Second,
		Epoch:    resp.Epoch,
		HoldDown: holdDownFor(resp.Result, resp.Lifetime),
	}
	if e.HoldDown > 0 {
		e.Until = r.at.Add(e.HoldDown)
		c.mu.Lock()
		c.holds.add(req, e, r.at)
		c.mu.Unlock()
	}
	return e
}
