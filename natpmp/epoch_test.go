package natpmp

import (
	"testing"
	"time"
)

func TestEpochTracker(t *testing.T) {
	type obs struct {
		epoch  uint32
		after  time.Duration // since the previous observation
		reboot bool
	}
	tests := []struct {
		name string
		seq  []obs
	}{
		{"first observation is never a reboot", []obs{{5, 0, false}}},
		{"drop from 10000 to 5 is a reboot", []obs{{10000, 0, false}, {5, time.Second, true}}},
		{"drop from 10000 to 5 at once is a reboot", []obs{{10000, 0, false}, {5, 0, true}}},
		{"steady clock", []obs{{100, 0, false}, {110, 10 * time.Second, false}, {160, 50 * time.Second, false}}},
		{"same value within 2 s", []obs{{100, 0, false}, {100, 2 * time.Second, false}}},
		{"gateway clock 12.5% slow is fine", []obs{{1000, 0, false}, {1000 + 875, 1000 * time.Second, false}}},
		{"stalled gateway clock is a reboot", []obs{{1000, 0, false}, {1000, 10 * time.Second, true}}},
		// 7/8 of 16 s is 14 s: 1000+14-2 = 1012 is the limit.
		{"just within the slack", []obs{{1000, 0, false}, {1012, 16 * time.Second, false}}},
		{"just beyond the slack", []obs{{1000, 0, false}, {1011, 16 * time.Second, true}}},
		{"one second back is tolerated", []obs{{1000, 0, false}, {999, 0, false}}},
		{"three seconds back is a reboot", []obs{{1000, 0, false}, {997, 0, true}}},
		{"after a reboot the new epoch is the reference", []obs{{10000, 0, false}, {0, time.Second, true}, {4, 4 * time.Second, false}}},
		{"our clock going backwards counts as no time", []obs{{1000, 0, false}, {1000, -time.Hour, false}}},
		{"forward jump is fine", []obs{{1000, 0, false}, {50000, time.Second, false}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tr EpochTracker
			now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			for i, o := range tt.seq {
				now = now.Add(o.after)
				if got := tr.Observe(o.epoch, now); got != o.reboot {
					t.Fatalf("observation %d (epoch %d after %v): reboot = %v, want %v", i, o.epoch, o.after, got, o.reboot)
				}
			}
			last, ok := tr.Last()
			if !ok || last != tt.seq[len(tt.seq)-1].epoch {
				t.Fatalf("Last() = %d, %v", last, ok)
			}
		})
	}
}
