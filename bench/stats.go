//go:build linux

package main

import (
	"fmt"
	"slices"
	"time"
)

// sample is one timed execution of a command.
type sample struct {
	wall time.Duration // around the exec of "ip netns exec ..."
	cpu  time.Duration // user+system time of the process (rusage)
}

// series collects the samples of one tool in one scenario.
type series struct {
	name     string
	samples  []sample
	failures int
	lastErr  string
	note     string
	// requests is what the gateway logged during the last good run.
	requests string
}

func (s *series) add(x sample) { s.samples = append(s.samples, x) }

func (s *series) fail(err error) {
	s.failures++
	s.lastErr = err.Error()
}

// walls returns the wall times sorted.
func (s *series) walls() []time.Duration {
	w := make([]time.Duration, len(s.samples))
	for i, x := range s.samples {
		w[i] = x.wall
	}
	slices.Sort(w)
	return w
}

// median of the wall times (0 without samples).
func (s *series) median() time.Duration { return quantile(s.walls(), 0.5) }

// p90 of the wall times, nearest rank.
func (s *series) p90() time.Duration { return quantile(s.walls(), 0.9) }

func (s *series) min() time.Duration {
	w := s.walls()
	if len(w) == 0 {
		return 0
	}
	return w[0]
}

// medianCPU is the median user+system time.
func (s *series) medianCPU() time.Duration {
	c := make([]time.Duration, len(s.samples))
	for i, x := range s.samples {
		c[i] = x.cpu
	}
	slices.Sort(c)
	return quantile(c, 0.5)
}

// quantile of sorted values: the median interpolates between the two middle
// values; other quantiles use the nearest rank.
func quantile(sorted []time.Duration, q float64) time.Duration {
	n := len(sorted)
	switch {
	case n == 0:
		return 0
	case q == 0.5 && n%2 == 0:
		return (sorted[n/2-1] + sorted[n/2]) / 2
	case q == 0.5:
		return sorted[n/2]
	}
	rank := int(q*float64(n)+0.999999) - 1
	return sorted[min(max(rank, 0), n-1)]
}

// ms formats a duration in milliseconds with sensible precision.
func ms(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	v := float64(d) / float64(time.Millisecond)
	switch {
	case v >= 1000:
		return fmt.Sprintf("%.0f", v)
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

// ratio is a/b as "12.3x".
func ratio(a, b time.Duration) string {
	if a == 0 || b == 0 {
		return "-"
	}
	r := float64(a) / float64(b)
	switch {
	case r >= 100:
		return fmt.Sprintf("%.0fx", r)
	case r >= 10:
		return fmt.Sprintf("%.1fx", r)
	default:
		return fmt.Sprintf("%.2fx", r)
	}
}
