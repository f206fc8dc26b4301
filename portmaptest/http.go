package portmaptest

import (
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// HTTP limits.
const (
	maxHeaderBytes = 16 << 10
	maxSOAPRequest = 64 << 10
)

// webServer is the HTTP side of the gateway: description, SOAP control,
// GENA subscriptions.
type webServer struct {
	ln   net.Listener
	addr netip.AddrPort
	srv  *http.Server
}

// start serves on w.ln; the gateway's mutex is held and it is not closed.
func (w *webServer) start(g *Gateway) {
	w.srv = &http.Server{
		Handler:           http.HandlerFunc(g.serveHTTP),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		IdleTimeout:       30 * time.Second,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          log.New(io.Discard, "", 0),
		BaseContext:       func(net.Listener) context.Context { return g.ctx },
	}
	srv, ln := w.srv, w.ln
	g.wg.Go(func() { _ = srv.Serve(ln) })
}

func (w *webServer) close() {
	if w.srv != nil {
		w.srv.Close()
	} else {
		w.ln.Close()
	}
}

// enter registers an HTTP handler with Close, which waits for it; it
// reports false once the gateway is closed.
func (g *Gateway) enter() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	g.wg.Add(1)
	return true
}

func (g *Gateway) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if !g.enter() {
		hangUp(w)
		return
	}
	defer g.wg.Done()
	w.Header().Set("Server", serverHeader)
	from, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		http.Error(w, "bad remote address", http.StatusInternalServerError)
		return
	}
	from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
	path := r.URL.Path
	switch {
	case path == descPath:
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		g.serveDescription(w, r, from)
	case strings.HasPrefix(path, "/ctl/"):
		svc, ok := g.serviceNamed(strings.TrimPrefix(path, "/ctl/"))
		if !ok {
			http.NotFound(w, r)
			return
		}
		if r.Method != http.MethodPost {
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		g.serveControl(w, r, svc, from)
	case strings.HasPrefix(path, "/evt/"):
		svc, ok := g.serviceNamed(strings.TrimPrefix(path, "/evt/"))
		if !ok {
			http.NotFound(w, r)
			return
		}
		switch r.Method {
		case "SUBSCRIBE":
			g.serveSubscribe(w, r, svc, from)
		case "UNSUBSCRIBE":
			g.serveUnsubscribe(w, r, from)
		default:
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		}
	default:
		http.NotFound(w, r)
	}
}

// hangUp closes the connection without a reply (the Drop code).
func hangUp(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if c, _, err := hj.Hijack(); err == nil {
			c.Close()
		}
	}
}

// httpStatus makes an injected code usable as an HTTP status.
func httpStatus(code int) int {
	if code < 100 || code > 599 {
		return http.StatusInternalServerError
	}
	return code
}

// serveDescription serves the root device description.
func (g *Gateway) serveDescription(w http.ResponseWriter, r *http.Request, from netip.AddrPort) {
	g.mu.Lock()
	now := g.now()
	drop, code, injected := g.decideLocked("http:description", false)
	rec := Request{Time: now, Protocol: UPnP, Action: "http:description", From: from, Code: http.StatusOK, Injected: injected}
	if injected {
		rec.Code = code
	}
	g.recordLocked(rec)
	delay := g.faults.delay
	g.mu.Unlock()
	if drop {
		hangUp(w)
		return
	}
	if !g.sleep(delay) {
		return
	}
	if injected {
		http.Error(w, http.StatusText(httpStatus(code)), httpStatus(code))
		return
	}
	body := g.description()
	w.Header().Set("Content-Type", `text/xml; charset="utf-8"`)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(body)
}
