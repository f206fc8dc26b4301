package natpmp

import (
	"sync"
	"time"
)

// epochSlack is how far (2 s) the gateway's epoch may fall behind the
// conservative estimate before it counts as a reboot (RFC 6886 §3.6).
const epochSlack = 2 * time.Second

// EpochTracker follows a gateway's "seconds since start of epoch" and tells
// when it ran backwards, which means the gateway rebooted or otherwise lost
// its mappings (RFC 6886 §3.6).
//
// The rule: from the previous value and the time elapsed on our own clock
// since it was received, the expected value is at least previous + 7/8 of
// the elapsed time (allowing the gateway's clock to run 12.5% slow); if the
// new value is more than 2 seconds below that, the gateway rebooted.
//
// The zero value is ready to use and safe for concurrent use.
type EpochTracker struct {
	mu    sync.Mutex
	valid bool
	last  uint32
	at    time.Time
}

// Observe records epoch, received at time now, and reports whether it
// reveals a reboot since the previous observation. The first observation
// never does.
func (t *EpochTracker) Observe(epoch uint32, now time.Time) (reboot bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.valid {
		elapsed := now.Sub(t.at)
		if elapsed < 0 {
			elapsed = 0
		}
		expected := time.Duration(t.last)*time.Second + elapsed/8*7
		reboot = time.Duration(epoch)*time.Second < expected-epochSlack
	}
	t.valid, t.last, t.at = true, epoch, now
	return reboot
}

// Last returns the last epoch observed and whether there was one.
func (t *EpochTracker) Last() (epoch uint32, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.last, t.valid
}
