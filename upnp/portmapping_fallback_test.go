package upnp

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestAddPortMappingWithFallbacks(t *testing.T) {
	type step struct {
		action string // expected action
		lease  string // expected NewLeaseDuration
		reply  fakeReply
	}
	ok := func(a string) fakeReply { return okReply(a, urnIP2) }
	reserved := okReply("AddAnyPortMapping", urnIP2, "NewReservedPort", "40123")
	tests := []struct {
		name  string
		urn   string
		lease time.Duration
		opts  AddOptions
		steps []step
		want  AddResult
		err   error
	}{
		{"plain", urnIP2, time.Hour, AddOptions{}, []step{{"AddPortMapping", "3600", ok("AddPortMapping")}},
			AddResult{ExternalPort: 40001, LeaseDuration: time.Hour}, nil},
		{"v2 clamps a month", urnIP2, 30 * 24 * time.Hour, AddOptions{}, []step{{"AddPortMapping", "604800", ok("AddPortMapping")}},
			AddResult{ExternalPort: 40001, LeaseDuration: MaxLeaseV2, LeaseClamped: true}, nil},
		{"725 -> permanent", urnIP1, time.Hour, AddOptions{}, []step{
			{"AddPortMapping", "3600", faultReply(725, "OnlyPermanentLeasesSupported")},
			{"AddPortMapping", "0", ok("AddPortMapping")}},
			AddResult{ExternalPort: 40001, Permanent: true}, nil},
		{"402 on lease -> permanent", urnIP1, time.Hour, AddOptions{}, []step{
			{"AddPortMapping", "3600", faultReply(402, "Invalid Args")},
			{"AddPortMapping", "0", ok("AddPortMapping")}},
			AddResult{ExternalPort: 40001, Permanent: true}, nil},
		{"402 with lease 0 is final", urnIP1, 0, AddOptions{}, []step{
			{"AddPortMapping", "0", faultReply(402, "Invalid Args")}},
			AddResult{}, ErrInvalidArgs},
		{"718 -> AddAny", urnIP2, time.Hour, AddOptions{AnyPortOnConflict: true}, []step{
			{"AddPortMapping", "3600", faultReply(718, "ConflictInMappingEntry")},
			{"AddAnyPortMapping", "3600", reserved}},
			AddResult{ExternalPort: 40123, LeaseDuration: time.Hour, UsedAddAny: true}, nil},
		{"718 -> AddAny -> 725", urnIP2, time.Hour, AddOptions{AnyPortOnConflict: true}, []step{
			{"AddPortMapping", "3600", faultReply(718, "ConflictInMappingEntry")},
			{"AddAnyPortMapping", "3600", faultReply(725, "OnlyPermanentLeasesSupported")},
			{"AddAnyPortMapping", "0", reserved}},
			AddResult{ExternalPort: 40123, LeaseDuration: MaxLeaseV2, Permanent: true, UsedAddAny: true}, nil},
		{"v2: 402 on lease -> lease 0, which v2 reads as a week", urnIP2, time.Hour, AddOptions{}, []step{
			{"AddPortMapping", "3600", faultReply(402, "Invalid Args")},
			{"AddPortMapping", "0", ok("AddPortMapping")}},
			AddResult{ExternalPort: 40001, LeaseDuration: MaxLeaseV2, Permanent: true}, nil},
		{"718 without AnyPortOnConflict", urnIP2, time.Hour, AddOptions{}, []step{
			{"AddPortMapping", "3600", faultReply(718, "ConflictInMappingEntry")}},
			AddResult{}, ErrConflictInMappingEntry},
		{"718 on v1", urnIP1, time.Hour, AddOptions{AnyPortOnConflict: true}, []step{
			{"AddPortMapping", "3600", faultReply(718, "ConflictInMappingEntry")}},
			AddResult{}, ErrConflictInMappingEntry},
		{"728 passes through", urnIP2, time.Hour, AddOptions{AnyPortOnConflict: true}, []step{
			{"AddPortMapping", "3600", faultReply(728, "NoPortMapsAvailable")}},
			AddResult{}, ErrNoPortMapsAvailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			i := 0
			f := newFakeDevice(t, func(r fakeRequest) fakeReply {
				if i >= len(tt.steps) {
					t.Errorf("unexpected request %s", r.Action)
					return faultReply(501, "ActionFailed")
				}
				s := tt.steps[i]
				i++
				if r.Action != s.action || r.arg("NewLeaseDuration") != s.lease {
					t.Errorf("step %d: %s lease %s, want %s lease %s", i, r.Action, r.arg("NewLeaseDuration"), s.action, s.lease)
				}
				return s.reply
			})
			c := NewWANConnection(f.service(tt.urn), nil)
			pm := PortMapping{ExternalPort: 40001, Protocol: "TCP", InternalPort: 8080, InternalClient: mustAddr("10.77.0.2"),
				Enabled: true, LeaseDuration: tt.lease}
			got, err := c.AddPortMappingWithFallbacks(context.Background(), pm, tt.opts)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("err = %v, want %v", err, tt.err)
				}
			} else if err != nil || got != tt.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
			if i != len(tt.steps) {
				t.Errorf("%d requests, want %d", i, len(tt.steps))
			}
		})
	}
}
