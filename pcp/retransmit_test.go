package pcp

import (
	"testing"
	"time"
)

func constRand(v float64) func() float64 { return func() float64 { return v } }

func TestScheduleRFCDefaults(t *testing.T) {
	s := newSchedule(Retransmit{}, constRand(0.5)) // RAND = 0
	want := []time.Duration{3, 6, 12, 24, 48, 96, 192, 384, 768, 1024, 1024, 1024}
	for i, w := range want {
		got, ok := s.next()
		if !ok || got != w*time.Second {
			t.Fatalf("RT[%d] = %v %v, want %v", i, got, ok, w*time.Second)
		}
	}
}

func TestScheduleJitterBounds(t *testing.T) {
	lo := newSchedule(Retransmit{}, constRand(0))     // RAND = -0.1
	hi := newSchedule(Retransmit{}, constRand(0.999)) // RAND ~ +0.1
	prevLo := time.Duration(0)
	for i := range 14 {
		l, _ := lo.next()
		h, _ := hi.next()
		if i == 0 {
			if l != 2700*time.Millisecond || h < 3299*time.Millisecond || h > 3300*time.Millisecond {
				t.Fatalf("first RT in [%v, %v], want [2.7s, 3.3s]", l, h)
			}
		} else {
			// RT = 2*RTprev + RAND*RTprev, capped to MRT ± 10%.
			if wantL := min(2*prevLo-prevLo/10, 1024*time.Second*9/10); l != wantL && l != 1024*time.Second*9/10 {
				t.Errorf("RT[%d] low = %v, want %v", i, l, wantL)
			}
			if h > 1024*time.Second*11/10 {
				t.Errorf("RT[%d] high = %v exceeds MRT+10%%", i, h)
			}
		}
		prevLo = l
	}
	if prevLo != 1024*time.Second*9/10 {
		t.Errorf("capped low RT = %v, want 921.6s", prevLo)
	}
}

func TestScheduleFirstTimeoutAndMRC(t *testing.T) {
	s := newSchedule(Retransmit{FirstTimeout: 250 * time.Millisecond, MRC: 4, IRT: time.Second}, constRand(0.5))
	want := []time.Duration{250 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second}
	for i, w := range want {
		got, ok := s.next()
		if !ok || got != w {
			t.Fatalf("RT[%d] = %v %v, want %v", i, got, ok, w)
		}
	}
	if _, ok := s.next(); ok {
		t.Error("a 5th transmission with MRC 4")
	}
}

func TestScheduleNoCap(t *testing.T) {
	s := newSchedule(Retransmit{IRT: time.Second, MRT: -1}, constRand(0.5))
	var rt time.Duration
	for range 12 {
		rt, _ = s.next()
	}
	if rt != 2048*time.Second {
		t.Errorf("RT[11] without MRT = %v, want 2048s", rt)
	}
}
