package upnp

import (
	"context"
	"errors"
	"math/rand/v2"
	"strconv"
	"testing"
)

func TestListPortMappingsWindows(t *testing.T) {
	type layout func(ft *fakeTable)
	cluster := func(start, n int, proto string) layout {
		return func(ft *fakeTable) {
			for i := range n {
				ft.add(uint16(start+i), proto, "c"+strconv.Itoa(i))
			}
		}
	}
	scatter := func(n int, seed uint64) layout {
		return func(ft *fakeTable) {
			r := rand.New(rand.NewPCG(seed, 1))
			used := map[uint32]bool{}
			for len(ft.entries) < n {
				port := uint16(1 + r.IntN(65535))
				proto := []string{"TCP", "UDP"}[r.IntN(2)]
				k := uint32(port)<<1 | uint32(len(proto)&1)
				if used[k] {
					continue
				}
				used[k] = true
				ft.add(port, proto, "s")
			}
		}
	}
	both := func(ls ...layout) layout {
		return func(ft *fakeTable) {
			for _, l := range ls {
				l(ft)
			}
		}
	}
	tests := []struct {
		name      string
		layout    layout
		want      int
		maxCalls  int // SOAP requests allowed (speed)
		opts      ListOptions
		ft        *fakeTable
		urn       string
		wantErr   error
		maxInList int
	}{
		{name: "empty", layout: func(*fakeTable) {}, want: 0, maxCalls: 3},
		{name: "few", layout: cluster(40000, 5, "TCP"), want: 5, maxCalls: 3},
		{name: "exactly limit", layout: cluster(40000, 64, "UDP"), want: 64, maxCalls: 6},
		{name: "limit-1", layout: cluster(40000, 63, "UDP"), want: 63, maxCalls: 3},
		{name: "200 clustered (e2e shape)", layout: cluster(40000, 200, "TCP"), want: 200, maxCalls: 20},
		{name: "200 clustered + 30 udp", layout: both(cluster(40000, 200, "TCP"), cluster(50000, 30, "UDP")), want: 230, maxCalls: 25},
		{name: "1000 dense both", layout: both(cluster(10000, 500, "TCP"), cluster(10000, 500, "UDP")), want: 1000, maxCalls: 60},
		{name: "300 scattered", layout: scatter(300, 7), want: 300, maxCalls: 330},
		{name: "130 scattered", layout: scatter(130, 3), want: 130, maxCalls: 110},
		{name: "3000 scattered", layout: scatter(3000, 5), want: 3000, maxCalls: 3000},
		{name: "730 on empty windows", layout: cluster(40000, 150, "TCP"), want: 150, maxCalls: 20, ft: &fakeTable{empty730: true}},
		{name: "escaped listing", layout: cluster(40000, 10, "TCP"), want: 10, maxCalls: 3, ft: &fakeTable{escaped: true}},
		{name: "v1 generic walk", layout: cluster(40000, 20, "TCP"), want: 20, maxCalls: 21, urn: urnIP1},
		// 1 probe, the first list of each protocol (sent together, both
		// refused), then the generic walk of 21.
		{name: "no GetListOfPortMappings", layout: cluster(40000, 20, "UDP"), want: 20, maxCalls: 24, ft: &fakeTable{noList: true}},
		{name: "manage refused", layout: cluster(40000, 20, "UDP"), want: 20, maxCalls: 5, ft: &fakeTable{manage606: true}, opts: ListOptions{Manage: true}},
		{name: "tcp only in range", layout: both(cluster(40000, 100, "TCP"), cluster(40000, 100, "UDP")), want: 11, maxCalls: 20,
			opts: ListOptions{Protocols: []string{"tcp"}, StartPort: 40010, EndPort: 40020}},
		{name: "max calls", layout: scatter(300, 9), want: -1, maxCalls: 10, opts: ListOptions{MaxCalls: 10}, wantErr: ErrListIncomplete},
		{name: "100 of one protocol, 128 per reply", layout: cluster(40000, 100, "TCP"), want: 100, maxCalls: 3,
			opts: ListOptions{MaxPerReply: MaxSafePerReply}, maxInList: MaxSafePerReply},
		{name: "exactly 128, 128 per reply", layout: cluster(40000, 128, "TCP"), want: 128, maxCalls: 6,
			opts: ListOptions{MaxPerReply: MaxSafePerReply}, maxInList: MaxSafePerReply},
		{name: "200 clustered, 128 per reply", layout: cluster(40000, 200, "TCP"), want: 200, maxCalls: 8,
			opts: ListOptions{MaxPerReply: MaxSafePerReply}, maxInList: MaxSafePerReply},
		{name: "MaxPerReply above the safe bound", layout: cluster(40000, 300, "UDP"), want: 300, maxCalls: 20,
			opts: ListOptions{MaxPerReply: 1000}, maxInList: MaxSafePerReply},
		{name: "small replies", layout: cluster(40000, 200, "TCP"), want: 200, maxCalls: 40, opts: ListOptions{MaxPerReply: 16}, maxInList: 16},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ft := tt.ft
			if ft == nil {
				ft = &fakeTable{}
			}
			tt.layout(ft)
			urn := tt.urn
			if urn == "" {
				urn = urnIP2
			}
			c := newFakeTableDevice(t, ft, urn)
			got, err := c.ListPortMappings(context.Background(), tt.opts)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if ft.crashed {
				t.Fatalf("device crashed: a reply held %d entries", ft.maxInReply)
			}
			limit := tt.maxInList
			if limit == 0 {
				limit = 64
			}
			if ft.maxInReply > limit {
				t.Errorf("largest reply held %d entries, want <= %d", ft.maxInReply, limit)
			}
			if tt.want >= 0 && len(got) != tt.want {
				t.Errorf("got %d mappings, want %d", len(got), tt.want)
			}
			calls := ft.listCalls + ft.genericCall
			if calls > tt.maxCalls {
				t.Errorf("%d SOAP requests (%d list, %d generic), want <= %d", calls, ft.listCalls, ft.genericCall, tt.maxCalls)
			}
			t.Logf("%d mappings, %d requests (%d list, %d generic), largest reply %d", len(got), calls, ft.listCalls, ft.genericCall, ft.maxInReply)
			for i := 1; i < len(got); i++ {
				a, b := got[i-1], got[i]
				if a.ExternalPort > b.ExternalPort || (a.ExternalPort == b.ExternalPort && a.Protocol >= b.Protocol) {
					t.Fatalf("not sorted/unique at %d: %v %v", i, a, b)
				}
			}
		})
	}
}

func TestListPortMappingsContent(t *testing.T) {
	ft := &fakeTable{}
	ft.add(40001, "TCP", `a <&>"' b`)
	ft.add(40002, "UDP", "")
	c := newFakeTableDevice(t, ft, urnIP2)
	got, err := c.ListPortMappings(context.Background(), ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Description != `a <&>"' b` || got[0].Protocol != "TCP" || got[1].Protocol != "UDP" ||
		got[0].InternalClient != mustAddr("10.77.0.2") || !got[0].Enabled || got[0].InternalPort != 40001 {
		t.Fatalf("got %+v", got)
	}
}

func TestListPortMappingsBadOptions(t *testing.T) {
	c := NewWANConnection(Service{Type: urnIP2}, nil)
	if _, err := c.ListPortMappings(context.Background(), ListOptions{StartPort: 10, EndPort: 5}); err == nil {
		t.Error("start > end accepted")
	}
	if _, err := c.ListPortMappings(context.Background(), ListOptions{Protocols: []string{"SCTP"}}); err == nil {
		t.Error("SCTP accepted")
	}
}

func TestListPortMappingsCanceled(t *testing.T) {
	ft := &fakeTable{}
	c := newFakeTableDevice(t, ft, urnIP2)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.ListPortMappings(ctx, ListOptions{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
}
