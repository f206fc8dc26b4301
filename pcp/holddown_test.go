package pcp

import (
	"bytes"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestHoldTableBounded(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tbl := make(holdTable)
	req := func(port uint16) *Request {
		return &Request{Opcode: OpMap, Lifetime: 60, Data: MapData{Protocol: TCP, InternalPort: port}}
	}
	short := &ResultError{Code: NotAuthorized, HoldDown: time.Second, Until: now.Add(time.Second)}
	long := &ResultError{Code: NotAuthorized, HoldDown: time.Hour, Until: now.Add(time.Hour)}
	for i := range maxHolds {
		e := long
		if i%2 == 0 {
			e = short
		}
		tbl.add(req(uint16(i)), e, now)
	}
	if len(tbl) != maxHolds {
		t.Fatalf("%d entries", len(tbl))
	}
	// Full: nothing new is recorded while every entry is live...
	tbl.add(req(60000), long, now)
	if tbl.check(req(60000), now) != nil {
		t.Error("recorded beyond the bound")
	}
	// ...and expired entries make room.
	later := now.Add(2 * time.Second)
	tbl.add(req(60001), &ResultError{Code: NotAuthorized, HoldDown: time.Hour, Until: later.Add(time.Hour)}, later)
	if tbl.check(req(60001), later) == nil || len(tbl) != maxHolds/2+1 {
		t.Errorf("after purge: %d entries", len(tbl))
	}
	// Zero hold-down is never recorded.
	tbl.add(req(60002), &ResultError{Code: NotAuthorized}, later)
	if tbl.check(req(60002), later) != nil {
		t.Error("zero hold-down recorded")
	}
}

func TestHoldKeySameRequest(t *testing.T) {
	a := &Request{Opcode: OpMap, Lifetime: 60, Data: MapData{Nonce: NewNonce(), Protocol: TCP, InternalPort: 80}}
	b := *a
	b.Data.Nonce = NewNonce()
	b.Lifetime = 7200
	if holdKeyFor(a) != holdKeyFor(&b) {
		t.Error("nonce and lifetime must not make another request")
	}
	for _, edit := range []func(r *Request){
		func(r *Request) { r.Data.InternalPort = 81 },
		func(r *Request) { r.Data.Protocol = UDP },
		func(r *Request) { r.Data.ExternalPort = 8080 },
		func(r *Request) { r.Lifetime = 0 },
		func(r *Request) { r.Opcode = OpPeer },
		func(r *Request) { r.Options.ThirdParty = netip.MustParseAddr("10.0.0.3") },
	} {
		c := *a
		edit(&c)
		if holdKeyFor(a) == holdKeyFor(&c) {
			t.Errorf("%+v counted as the same request as %+v", c, a)
		}
	}
}

func TestLogger(t *testing.T) {
	var buf bytes.Buffer
	s := newFakeServer(t, nil)
	c, _ := newTestClient(t, s, WithLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	if _, err := c.Announce(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	c.Close()
	out := buf.String()
	if !strings.Contains(out, "pcp: request") || !strings.Contains(out, "pcp: response") || !strings.Contains(out, "opcode=ANNOUNCE") {
		t.Errorf("log:\n%s", out)
	}
}

func TestLocalAddrAndInterfaceOptions(t *testing.T) {
	s := newFakeServer(t, nil)
	c, _ := newTestClient(t, s, WithLocalAddr(netip.MustParseAddr("127.0.0.1")),
		WithMulticastInterface("no-such-interface0"), WithAnnounceAddrs(netip.MustParseAddrPort("224.0.0.1:5350")))
	if got := c.LocalAddr().Addr(); got != netip.MustParseAddr("127.0.0.1") {
		t.Errorf("LocalAddr %v", got)
	}
	// The interface lookup fails before any socket joins a group.
	if err := c.ListenAnnouncements(ctxT(t)); err == nil || !strings.Contains(err.Error(), "no-such-interface0") {
		t.Errorf("ListenAnnouncements = %v", err)
	}
}
