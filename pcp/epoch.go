package pcp

import "time"

// EpochState validates one server's Epoch Time values (RFC 6887 §8.5). A
// server's epoch counts seconds since it last lost its mapping state; a
// value that goes backwards, or moves too differently from the client's own
// clock, means the server restarted (or lost state) and the client must
// recreate its mappings. The zero value is ready to use; it is not safe for
// concurrent use.
type EpochState struct {
	seen       bool
	prevServer uint32
	prevClient time.Time
}

// Observe records the epoch serverTime received at clientTime and reports
// whether it is valid. It returns true for the first value seen. Following
// §8.5, with client_delta and server_delta the whole seconds elapsed on each
// side since the previous response:
//
//   - an epoch more than 1 second smaller than the previous one is invalid
//     (up to 1 second is tolerated: packets can be reordered);
//   - otherwise it is invalid if
//     client_delta+2 < server_delta-server_delta/16 or
//     server_delta+2 < client_delta-client_delta/16.
//
// The new values are recorded whether valid or not, as §8.5 says.
func (e *EpochState) Observe(serverTime uint32, clientTime time.Time) (valid bool) {
	defer func() {
		e.seen, e.prevServer, e.prevClient = true, serverTime, clientTime
	}()
	if !e.seen {
		return true
	}
	cur, prev := int64(serverTime), int64(e.prevServer)
	if cur+1 < prev {
		return false
	}
	clientDelta := int64(clientTime.Sub(e.prevClient) / time.Second)
	serverDelta := cur - prev
	if clientDelta+2 < serverDelta-serverDelta/16 || serverDelta+2 < clientDelta-clientDelta/16 {
		return false
	}
	return true
}

// Last returns the last epoch recorded and whether there is one.
func (e *EpochState) Last() (uint32, bool) { return e.prevServer, e.seen }

// Reset forgets the server's history; the next value is valid.
func (e *EpochState) Reset() { *e = EpochState{} }
