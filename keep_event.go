package portmap

import (
	"fmt"
	"time"
)

// EventKind says what happened to a kept mapping.
type EventKind int

// Event kinds, in the order of a mapping's life.
const (
	// Created: the mapping was made for the first time.
	Created EventKind = iota + 1
	// Renewed: the lease was extended before it ran out.
	Renewed
	// AddressChanged: the gateway's external address changed.
	AddressChanged
	// Lost: the mapping is gone from the gateway (reboot, expiry, the
	// gateway unreachable) and the keeper is trying to make it again.
	Lost
	// Restored: a lost mapping was made again.
	Restored
	// Failed: an attempt failed; the keeper retries with backoff.
	Failed
	// Deleted: the keeper deleted the mapping as it stopped.
	Deleted
)

var eventNames = [...]string{"", "created", "renewed", "address-changed", "lost", "restored", "failed", "deleted"}

// String names the kind: "created", "renewed" and so on.
func (k EventKind) String() string {
	if k > 0 && int(k) < len(eventNames) {
		return eventNames[k]
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Event reports a change to a kept mapping.
type Event struct {
	Kind EventKind
	// Mapping is the mapping as it is now (for Lost and Failed: as it was).
	Mapping Mapping
	// Err is the cause of Lost and Failed events.
	Err error
	// Time is when it happened.
	Time time.Time
}

// String describes the event in one line.
func (e Event) String() string {
	s := fmt.Sprintf("%s %s %s -> %s via %s", e.Kind, e.Mapping.Transport, e.Mapping.External, e.Mapping.Internal, e.Mapping.Protocol)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}
