package upnp

import (
	"context"
	"errors"
	"strconv"
	"testing"
)

// rangeDeleteTable extends fakeTable with DeletePortMappingRange, which
// crashes like GetListOfPortMappings past 128 entries.
func rangeDeleteHandler(ft *fakeTable, deletes *int) func(fakeRequest) fakeReply {
	return func(r fakeRequest) fakeReply {
		if r.Action != "DeletePortMappingRange" {
			return ft.handle(r)
		}
		ft.mu.Lock()
		defer ft.mu.Unlock()
		*deletes++
		start, _ := strconv.Atoi(r.arg("NewStartPort"))
		end, _ := strconv.Atoi(r.arg("NewEndPort"))
		var keep []PortMapping
		n := 0
		for _, pm := range ft.entries {
			if pm.Protocol == r.arg("NewProtocol") && int(pm.ExternalPort) >= start && int(pm.ExternalPort) <= end {
				n++
				continue
			}
			keep = append(keep, pm)
		}
		ft.maxInReply = max(ft.maxInReply, n)
		if n > miniupnpdCapacity {
			ft.crashed = true
			return fakeReply{Status: 503}
		}
		if n == 0 {
			return faultReply(730, "PortMappingNotFound")
		}
		ft.entries = keep
		return okReply(r.Action, r.ServiceNS)
	}
}

func TestDeletePortMappingRangeSafe(t *testing.T) {
	tests := []struct {
		name         string
		tcp, udp     int
		start, end   uint16
		wantLeft     int
		maxRequests  int
		wantNotFound bool
	}{
		{"small table", 10, 5, 40000, 40009, 5, 2, false},
		{"small table empty range", 10, 5, 50000, 50009, 15, 2, true},
		{"200 mappings", 200, 10, 1, 65535, 10, 20, false},
		{"200 mappings part", 200, 10, 40050, 40149, 110, 20, false},
		{"200 mappings empty range", 200, 0, 50000, 50100, 200, 20, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ft := &fakeTable{}
			for i := range tt.tcp {
				ft.add(uint16(40000+i), "TCP", "")
			}
			for i := range tt.udp {
				ft.add(uint16(40000+i), "UDP", "")
			}
			deletes := 0
			f := newFakeDevice(t, rangeDeleteHandler(ft, &deletes))
			c := NewWANConnection(f.service(urnIP2), nil)
			err := c.DeletePortMappingRange(context.Background(), tt.start, tt.end, "tcp", false)
			if tt.wantNotFound {
				if !errors.Is(err, ErrPortMappingNotFound) {
					t.Fatalf("err = %v", err)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if ft.crashed || ft.maxInReply > 64 {
				t.Fatalf("a request covered %d mappings", ft.maxInReply)
			}
			if len(ft.entries) != tt.wantLeft {
				t.Errorf("%d left, want %d", len(ft.entries), tt.wantLeft)
			}
			if n := len(f.requests()); n > tt.maxRequests {
				t.Errorf("%d requests, want <= %d", n, tt.maxRequests)
			}
			t.Logf("%d requests (%d deletes)", len(f.requests()), deletes)
		})
	}
}
