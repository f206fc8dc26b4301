package portmap

import (
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"
)

// ErrNoGateway is matched (with errors.Is) by every error saying that no
// gateway answered; errors.As with *[NoGatewayError] gives the details.
var ErrNoGateway = errors.New("no gateway answered")

// NoGatewayError says which gateway was asked, with which protocols, for
// how long, and what each protocol's attempt ended with.
type NoGatewayError struct {
	// Gateway is the address that was asked (zero if none was found).
	Gateway netip.Addr
	// Tried maps each protocol tried to the error it ended with.
	Tried map[Protocol]error
	// Elapsed is how long the attempt took.
	Elapsed time.Duration
	// Err is why no gateway could be asked at all (none found), if so.
	Err error
}

func (e *NoGatewayError) Error() string {
	var b strings.Builder
	if e.Err != nil {
		return "portmap: no gateway: " + e.Err.Error()
	}
	b.WriteString("portmap: no gateway answered")
	if e.Gateway.IsValid() {
		fmt.Fprintf(&b, " at %s", e.Gateway)
	}
	if len(e.Tried) > 0 {
		protos := make([]string, 0, len(e.Tried))
		for p := range e.Tried {
			protos = append(protos, string(p))
		}
		sort.Strings(protos)
		b.WriteString(" (")
		for i, p := range protos {
			if i > 0 {
				b.WriteString("; ")
			}
			// The packages' errors name their protocol already
			// ("natpmp: no reply ..."): say it once.
			msg := e.Tried[Protocol(p)].Error()
			if !strings.HasPrefix(msg, p+": ") {
				msg = p + ": " + msg
			}
			b.WriteString(msg)
		}
		b.WriteString(")")
	}
	fmt.Fprintf(&b, " after %v", e.Elapsed.Round(time.Millisecond))
	return b.String()
}

// Is makes errors.Is(err, ErrNoGateway) true.
func (e *NoGatewayError) Is(target error) bool { return target == ErrNoGateway }

// Unwrap returns the protocols' errors, so errors.Is and errors.As see
// them too.
func (e *NoGatewayError) Unwrap() []error {
	errs := make([]error, 0, len(e.Tried)+1)
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	for _, err := range e.Tried {
		errs = append(errs, err)
	}
	return errs
}

// ErrNotSupported is matched by errors saying the protocol in use cannot do
// the operation (NAT-PMP and PCP cannot list mappings, for instance).
var ErrNotSupported = errors.New("not supported by the protocol")

// NotSupportedError names the protocol and the operation it lacks.
type NotSupportedError struct {
	Protocol  Protocol
	Operation string
}

func (e *NotSupportedError) Error() string {
	return fmt.Sprintf("portmap: %s cannot %s", e.Protocol, e.Operation)
}

// Is makes errors.Is(err, ErrNotSupported) true.
func (e *NotSupportedError) Is(target error) bool { return target == ErrNotSupported }

// ErrInvalidRequest is matched by errors about a [Request] that no gateway
// could grant as asked (a zero port, say).
var ErrInvalidRequest = errors.New("invalid request")

func invalidf(format string, args ...any) error {
	return fmt.Errorf("portmap: %w: %s", ErrInvalidRequest, fmt.Sprintf(format, args...))
}
