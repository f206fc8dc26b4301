package pcp

import (
	"testing"
	"time"
)

func TestEpochRFCVectors(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name        string
		prevServer  uint32
		curServer   uint32
		clientDelta time.Duration
		valid       bool
	}{
		{"back 1 s is tolerated", 100, 99, 0, true},
		{"back 2 s is invalid", 100, 98, 0, false},
		{"back to 0 (reboot)", 5000, 0, 10 * time.Second, false},
		{"server 1000 client 940 valid", 100, 1100, 940 * time.Second, true},
		{"server 1000 client 930 invalid", 100, 1100, 930 * time.Second, false},
		{"server 1000 client 1060 valid", 100, 1100, 1060 * time.Second, true},
		{"server 1000 client 1070 invalid", 100, 1100, 1070 * time.Second, false},
		{"equal", 100, 100, 0, true},
		{"2 s slack", 100, 103, 1 * time.Second, true},
		{"3 s ahead in 0 s", 100, 103, 0, false},
		{"server stood still for 10 s", 100, 100, 10 * time.Second, false},
		{"fractional client seconds truncate", 100, 1100, 940*time.Second + 900*time.Millisecond, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e EpochState
			if !e.Observe(tt.prevServer, t0) {
				t.Fatal("first value must be valid")
			}
			if got := e.Observe(tt.curServer, t0.Add(tt.clientDelta)); got != tt.valid {
				t.Errorf("Observe = %v, want %v", got, tt.valid)
			}
			if last, ok := e.Last(); !ok || last != tt.curServer {
				t.Errorf("Last = %d %v; the new value must be recorded even when invalid", last, ok)
			}
		})
	}
}

func TestEpochSequence(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var e EpochState
	if _, ok := e.Last(); ok {
		t.Fatal("zero EpochState has a value")
	}
	steps := []struct {
		at     time.Duration
		server uint32
		valid  bool
	}{
		{0, 500, true},
		{60 * time.Second, 560, true},
		{120 * time.Second, 620, true},
		{125 * time.Second, 3, false}, // reboot
		{185 * time.Second, 63, true}, // the new epoch is followed from here
	}
	for i, s := range steps {
		if got := e.Observe(s.server, t0.Add(s.at)); got != s.valid {
			t.Errorf("step %d: valid = %v, want %v", i, got, s.valid)
		}
	}
	e.Reset()
	if !e.Observe(0, t0) {
		t.Error("after Reset the first value is valid")
	}
}
