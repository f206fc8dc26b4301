package natpmp

import "errors"

// Sentinel errors. Errors returned by this package wrap them; test with
// errors.Is.
var (
	// ErrNotSupported means the gateway answered with ICMP port unreachable
	// ("connection refused"): nothing listens for NAT-PMP there.
	ErrNotSupported = errors.New("natpmp: no NAT-PMP server at the gateway")

	// ErrTimeout means no matching reply came back: all tries were sent, or
	// the context's deadline passed first (then the error also wraps
	// context.DeadlineExceeded).
	ErrTimeout = errors.New("natpmp: no reply from gateway")

	// ErrMalformed is wrapped by every decoding error: a packet too short,
	// too long, of another version, or with an opcode that does not fit.
	ErrMalformed = errors.New("natpmp: malformed packet")

	// ErrClosed is returned by calls on a closed [Client] or [Listener].
	ErrClosed = errors.New("natpmp: closed")

	// ErrAmbiguousPort is returned by [Client.Map] when the reply shows the
	// port-truncation bug (see [Client.Map]) and the external port cannot be
	// recovered. The mapping may exist; delete it by internal port.
	ErrAmbiguousPort = errors.New("natpmp: gateway truncated the ports in its reply; external port unknown")
)
