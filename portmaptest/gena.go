package portmaptest

import (
	"bytes"
	"encoding/xml"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// GENA (UDA 1.1 §4) limits.
const (
	maxSubscriptions   = 64
	maxCallbacks       = 4
	defaultSubTimeout  = 1800 * time.Second
	minSubTimeout      = 60 * time.Second
	deliveryTimeout    = 2 * time.Second
	maxNotifyReplyBody = 4 << 10
)

// subscription is one GENA subscription.
type subscription struct {
	sid      string
	kind     svcKind
	callback string
	expires  time.Time
	seq      uint32
}

// notifyJob is one event to deliver.
type notifyJob struct {
	url, sid string
	seq      uint32
	body     []byte
}

func genaClient() *http.Client {
	return &http.Client{
		Timeout: deliveryTimeout,
		Transport: &http.Transport{
			Proxy:                  nil,
			DialContext:            (&net.Dialer{Timeout: deliveryTimeout}).DialContext,
			MaxIdleConnsPerHost:    1,
			IdleConnTimeout:        5 * time.Second,
			ResponseHeaderTimeout:  deliveryTimeout,
			MaxResponseHeaderBytes: maxHeaderBytes,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// callbackURL returns the first callback of a CALLBACK header ("<url>" one
// or more times) that is an http URL on the subscriber's own address. A
// callback elsewhere is refused: the gateway must not be made to send
// requests to third parties.
func callbackURL(h string, subscriber netip.Addr) (string, bool) {
	for i := 0; i < maxCallbacks; i++ {
		start := strings.IndexByte(h, '<')
		end := strings.IndexByte(h, '>')
		if start < 0 || end < start {
			return "", false
		}
		raw := h[start+1 : end]
		h = h[end+1:]
		u, err := url.Parse(raw)
		if err != nil || u.Scheme != "http" || u.User != nil {
			continue
		}
		ip, err := netip.ParseAddr(u.Hostname())
		if err != nil || ip.Unmap() != subscriber {
			continue
		}
		return u.String(), true
	}
	return "", false
}

// subTimeout reads a TIMEOUT header: "Second-N", clamped to 60..1800 s;
// absent, infinite or unreadable means 1800 s.
func subTimeout(h string) time.Duration {
	v := strings.TrimSpace(h)
	if len(v) > 7 && strings.EqualFold(v[:7], "Second-") {
		if n, err := strconv.ParseUint(v[7:], 10, 32); err == nil {
			return min(max(time.Duration(n)*time.Second, minSubTimeout), defaultSubTimeout)
		}
	}
	return defaultSubTimeout
}

// genaDecide applies the knobs to a GENA request and records it; it returns
// whether to hang up, an HTTP status to answer instead (0: serve), and the
// delay.
func (g *Gateway) genaDecideLocked(action string, from netip.AddrPort, now time.Time) (bool, int, time.Duration) {
	drop, code, injected := g.decideLocked(action, false)
	if drop || injected {
		rec := Request{Time: now, Protocol: UPnP, Action: action, From: from, Code: code, Injected: true}
		if drop {
			rec.Code = Drop
		}
		g.recordLocked(rec)
		return drop, httpStatus(code), g.faults.delay
	}
	return false, 0, g.faults.delay
}

// serveSubscribe serves SUBSCRIBE: a new subscription (NT and CALLBACK) or
// a renewal (SID).
func (g *Gateway) serveSubscribe(w http.ResponseWriter, r *http.Request, svc serviceInfo, from netip.AddrPort) {
	sid, cb, nt := r.Header.Get("SID"), r.Header.Get("CALLBACK"), r.Header.Get("NT")
	action := "gena:subscribe"
	if sid != "" {
		action = "gena:renew"
	}
	g.mu.Lock()
	now := g.now()
	drop, status, delay := g.genaDecideLocked(action, from, now)
	var s *subscription
	if !drop && status == 0 {
		status = http.StatusOK
		switch {
		case sid != "" && (cb != "" || nt != ""):
			status = http.StatusBadRequest // UDA 1.1 §4.1.2: incompatible headers
		case sid != "":
			s = g.subs[sid]
			if s == nil || s.kind != svc.kind || !now.Before(s.expires) {
				delete(g.subs, sid)
				s, status = nil, http.StatusPreconditionFailed
			}
		default:
			u, ok := callbackURL(cb, from.Addr())
			switch {
			case nt != "upnp:event" || !ok:
				status = http.StatusPreconditionFailed
			case len(g.subs) >= maxSubscriptions:
				g.expireSubsLocked(now)
				if len(g.subs) >= maxSubscriptions {
					status = http.StatusServiceUnavailable
					break
				}
				fallthrough
			default:
				s = &subscription{sid: "uuid:" + newUUID(), kind: svc.kind, callback: u}
				g.subs[s.sid] = s
			}
		}
		timeout := subTimeout(r.Header.Get("TIMEOUT"))
		if s != nil {
			s.expires = now.Add(timeout)
		}
		g.recordLocked(Request{Time: now, Protocol: UPnP, Action: action, From: from, Code: status})
	}
	var sidOut string
	var timeout time.Duration
	if s != nil {
		sidOut, timeout = s.sid, s.expires.Sub(now)
	}
	g.mu.Unlock()
	if drop {
		hangUp(w)
		return
	}
	if !g.sleep(delay) {
		return
	}
	if status != http.StatusOK {
		http.Error(w, http.StatusText(status), status)
		return
	}
	w.Header().Set("SID", sidOut)
	w.Header().Set("TIMEOUT", "Second-"+strconv.FormatInt(int64(timeout/time.Second), 10))
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusOK)
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	if action == "gena:subscribe" {
		// UDA 1.1 §4.2: the initial event (SEQ 0, every evented variable)
		// follows the reply.
		g.mu.Lock()
		if s := g.subs[sidOut]; s != nil && s.seq == 0 {
			g.queueLocked(s, g.propertySetLocked(s.kind))
		}
		g.mu.Unlock()
	}
}

// serveUnsubscribe serves UNSUBSCRIBE.
func (g *Gateway) serveUnsubscribe(w http.ResponseWriter, r *http.Request, from netip.AddrPort) {
	const action = "gena:unsubscribe"
	sid := r.Header.Get("SID")
	g.mu.Lock()
	now := g.now()
	drop, status, delay := g.genaDecideLocked(action, from, now)
	if !drop && status == 0 {
		status = http.StatusOK
		if s := g.subs[sid]; sid == "" || s == nil {
			status = http.StatusPreconditionFailed
		}
		delete(g.subs, sid)
		g.recordLocked(Request{Time: now, Protocol: UPnP, Action: action, From: from, Code: status})
	}
	g.mu.Unlock()
	if drop {
		hangUp(w)
		return
	}
	if !g.sleep(delay) {
		return
	}
	if status != http.StatusOK {
		http.Error(w, http.StatusText(status), status)
		return
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusOK)
}

func (g *Gateway) expireSubsLocked(now time.Time) {
	for sid, s := range g.subs {
		if !now.Before(s.expires) {
			delete(g.subs, sid)
		}
	}
}

// changedLocked sends an event to the subscribers of kind: the evented
// variables of the service changed. As miniupnpd 2.3.1, every event
// carries all of the service's evented variables.
func (g *Gateway) changedLocked(kind svcKind) {
	if kind == svcIPConn {
		g.updateID++
	}
	if len(g.subs) == 0 {
		return
	}
	now := g.now()
	g.expireSubsLocked(now)
	var body []byte
	for _, s := range g.subs {
		if s.kind != kind {
			continue
		}
		if body == nil {
			body = g.propertySetLocked(kind)
		}
		g.queueLocked(s, body)
	}
}

// queueLocked queues one event for s. When the queue is full the event is
// lost, which the subscriber sees as a gap in SEQ.
func (g *Gateway) queueLocked(s *subscription, body []byte) {
	j := notifyJob{url: s.callback, sid: s.sid, seq: s.seq, body: body}
	s.seq++
	if s.seq == 0 {
		s.seq = 1 // UDA 1.1 §4.2.1: after 2^32-1 the key wraps to 1
	}
	select {
	case g.notify <- j:
	default:
	}
}

// propertySetLocked encodes the evented variables of kind.
func (g *Gateway) propertySetLocked(kind svcKind) []byte {
	var vars []Arg
	switch kind {
	case svcIPConn:
		status, ip := "Connected", ""
		if g.extIP.IsValid() {
			ip = g.extIP.String()
		} else {
			status = "Disconnected"
		}
		vars = []Arg{
			{"PossibleConnectionTypes", "IP_Routed"},
			{"ConnectionStatus", status},
			{"ExternalIPAddress", ip},
			{"PortMappingNumberOfEntries", strconv.Itoa(len(g.table.maps))},
			{"SystemUpdateID", strconv.FormatUint(uint64(g.updateID), 10)},
		}
	case svcFirewall:
		vars = []Arg{{"FirewallEnabled", boolText(g.fwEnabled)}, {"InboundPinholeAllowed", boolText(g.fwInbound)}}
	case svcCommon:
		vars = []Arg{{"PhysicalLinkStatus", g.linkStatusLocked()}}
	}
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0"?>` + "\r\n")
	enc := xml.NewEncoder(&b)
	set := xml.StartElement{
		Name: xml.Name{Local: "e:propertyset"},
		Attr: []xml.Attr{{Name: xml.Name{Local: "xmlns:e"}, Value: "urn:schemas-upnp-org:event-1-0"}},
	}
	prop := xml.StartElement{Name: xml.Name{Local: "e:property"}}
	toks := []xml.Token{set}
	for _, v := range vars {
		el := xml.StartElement{Name: xml.Name{Local: v.Name}}
		toks = append(toks, prop, el, xml.CharData(v.Value), el.End(), prop.End())
	}
	toks = append(toks, set.End())
	for _, t := range toks {
		if err := enc.EncodeToken(t); err != nil {
			return nil
		}
	}
	if err := enc.Flush(); err != nil {
		return nil
	}
	return b.Bytes()
}

// deliverEvents sends queued events, one at a time, until the gateway
// closes.
func (g *Gateway) deliverEvents() {
	for {
		select {
		case <-g.closing:
			return
		case j := <-g.notify:
			g.deliver(j)
		}
	}
}

// deliver sends one NOTIFY (UDA 1.1 §4.3). Failures are ignored, as
// routers do.
func (g *Gateway) deliver(j notifyJob) {
	req, err := http.NewRequestWithContext(g.ctx, "NOTIFY", j.url, bytes.NewReader(j.body))
	if err != nil {
		return
	}
	req.Header.Set("Content-Type", `text/xml; charset="utf-8"`)
	req.Header.Set("NT", "upnp:event")
	req.Header.Set("NTS", "upnp:propchange")
	req.Header.Set("SID", j.sid)
	req.Header.Set("SEQ", strconv.FormatUint(uint64(j.seq), 10))
	resp, err := g.hc.Do(req)
	if err != nil {
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxNotifyReplyBody))
	resp.Body.Close()
}
