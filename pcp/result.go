package pcp

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"time"
)

// ResultCode is the result code of a PCP response (RFC 6887 §7.4).
type ResultCode uint8

// Result codes defined by RFC 6887 §7.4.
const (
	Success          ResultCode = 0  // SUCCESS
	UnsuppVersion    ResultCode = 1  // UNSUPP_VERSION: the server does not speak this version (long lifetime)
	NotAuthorized    ResultCode = 2  // NOT_AUTHORIZED: refused by policy (long lifetime)
	MalformedRequest ResultCode = 3  // MALFORMED_REQUEST (long lifetime)
	UnsuppOpcode     ResultCode = 4  // UNSUPP_OPCODE (long lifetime)
	UnsuppOption     ResultCode = 5  // UNSUPP_OPTION: a mandatory option is not supported (long lifetime)
	MalformedOption  ResultCode = 6  // MALFORMED_OPTION (long lifetime)
	NetworkFailure   ResultCode = 7  // NETWORK_FAILURE, e.g. no external address yet (short lifetime)
	NoResources      ResultCode = 8  // NO_RESOURCES: cannot create more mappings now (short lifetime)
	UnsuppProtocol   ResultCode = 9  // UNSUPP_PROTOCOL (long lifetime)
	UserExQuota      ResultCode = 10 // USER_EX_QUOTA: this user's port quota is used up (short lifetime)
	// CANNOT_PROVIDE_EXTERNAL: the suggested address/port cannot be given
	// (only to MAP with PREFER_FAILURE, and PEER). RFC 6887 §7.4 makes it
	// neither a short- nor a long-lifetime error: "the error lifetime
	// depends on the reason for the failure". It is held down like a
	// long-lifetime error, for the lifetime the server sends up to
	// MaxErrorHoldDown rather than ShortErrorHoldDown, because only the
	// server knows the reason: a port held by another host's mapping
	// stays taken for that mapping's lifetime, and a server that expects
	// the cause to clear soon says so with a short lifetime (0 gives no
	// hold-down at all). Cutting it to 30 s would only repeat a request
	// the server has said is useless for longer. The hold-down covers the
	// same request only: asking for another external port is not held.
	CannotProvideExternal ResultCode = 11
	AddressMismatch       ResultCode = 12 // ADDRESS_MISMATCH: the client address field differs from the packet source (long lifetime)
	ExcessiveRemotePeers  ResultCode = 13 // EXCESSIVE_REMOTE_PEERS: too many FILTERs (long lifetime)
)

var resultNames = [...]string{
	Success:               "SUCCESS",
	UnsuppVersion:         "UNSUPP_VERSION",
	NotAuthorized:         "NOT_AUTHORIZED",
	MalformedRequest:      "MALFORMED_REQUEST",
	UnsuppOpcode:          "UNSUPP_OPCODE",
	UnsuppOption:          "UNSUPP_OPTION",
	MalformedOption:       "MALFORMED_OPTION",
	NetworkFailure:        "NETWORK_FAILURE",
	NoResources:           "NO_RESOURCES",
	UnsuppProtocol:        "UNSUPP_PROTOCOL",
	UserExQuota:           "USER_EX_QUOTA",
	CannotProvideExternal: "CANNOT_PROVIDE_EXTERNAL",
	AddressMismatch:       "ADDRESS_MISMATCH",
	ExcessiveRemotePeers:  "EXCESSIVE_REMOTE_PEERS",
}

var resultDescriptions = [...]string{
	Success:               "success",
	UnsuppVersion:         "the server does not support this PCP version",
	NotAuthorized:         "refused by the server's policy (mapping disabled, or not allowed for this host or port)",
	MalformedRequest:      "the server could not parse the request",
	UnsuppOpcode:          "the server does not support this operation",
	UnsuppOption:          "the server does not support a mandatory option of the request",
	MalformedOption:       "an option of the request is malformed (wrong length, repeated, or not allowed here)",
	NetworkFailure:        "the server has no working external network (e.g. no external address yet)",
	NoResources:           "the server cannot create more mappings now",
	UnsuppProtocol:        "the server does not support this transport protocol",
	UserExQuota:           "this host's port quota on the server is used up",
	CannotProvideExternal: "the suggested external address or port cannot be provided",
	AddressMismatch:       "there is another NAT between you and the PCP server",
	ExcessiveRemotePeers:  "the server cannot create that many remote-peer filters",
}

// String returns the RFC name of the code, e.g. "ADDRESS_MISMATCH", or
// "Result(N)" for codes RFC 6887 does not define.
func (c ResultCode) String() string {
	if int(c) < len(resultNames) {
		return resultNames[c]
	}
	return "Result(" + strconv.Itoa(int(c)) + ")"
}

// Description says in words what the code means to a user.
func (c ResultCode) Description() string {
	if int(c) < len(resultDescriptions) {
		return resultDescriptions[c]
	}
	return "unknown result code"
}

// ShortLifetime reports whether RFC 6887 §7.4 classes the code as a
// short-lifetime error: a transient condition (NETWORK_FAILURE,
// NO_RESOURCES, USER_EX_QUOTA) that may clear within seconds.
func (c ResultCode) ShortLifetime() bool {
	return c == NetworkFailure || c == NoResources || c == UserExQuota
}

// Hold-down limits (RFC 6887 §7.4 and §15: servers are advised to give
// short-lifetime errors a 30-second and long-lifetime errors a 30-minute
// lifetime).
const (
	// ShortErrorHoldDown caps the hold-down after a short-lifetime error.
	ShortErrorHoldDown = 30 * time.Second
	// MaxErrorHoldDown caps the hold-down after a long-lifetime error.
	MaxErrorHoldDown = 30 * time.Minute
)

// holdDownFor returns how long the client refuses to repeat a request that
// got error code c with the given error lifetime from the server.
//
// Short-lifetime errors are held down for the server's lifetime, at most
// [ShortErrorHoldDown] (30 s); a server that gives 0 gets 0. Long-lifetime
// errors are held down for the server's lifetime, capped at
// [MaxErrorHoldDown]. miniupnpd 2.3.1 sends lifetime 0 with every
// long-lifetime error and 30 s with short ones, so against it only
// NETWORK_FAILURE, NO_RESOURCES and USER_EX_QUOTA are held down.
func holdDownFor(c ResultCode, lifetime uint32) time.Duration {
	d := time.Duration(lifetime) * time.Second
	limit := MaxErrorHoldDown
	if c.ShortLifetime() {
		limit = ShortErrorHoldDown
	}
	return min(d, limit)
}

// ResultError is returned when the server answers with a result code other
// than [Success] (except UNSUPP_VERSION, which gives a [*VersionError]).
//
// errors.Is(err, &ResultError{Code: NotAuthorized}) matches any
// *ResultError with that code, whatever its other fields.
type ResultError struct {
	Code     ResultCode
	Opcode   Opcode         // the request's opcode
	Server   netip.AddrPort // the server that answered
	Lifetime time.Duration  // the error's lifetime as sent by the server
	Epoch    uint32         // the server's epoch time in the response
	// HoldDown is how long the client refuses to repeat the same request
	// (see [Client]); Until is when that ends (zero if HoldDown is 0). A
	// request refused during the hold-down returns this same error value.
	HoldDown time.Duration
	Until    time.Time
}

// Error returns e.g. "pcp: MAP refused: 12 ADDRESS_MISMATCH: there is
// another NAT between you and the PCP server".
func (e *ResultError) Error() string {
	s := fmt.Sprintf("pcp: %s refused: %d %s: %s", e.Opcode, uint8(e.Code), e.Code, e.Code.Description())
	if e.HoldDown > 0 {
		s += fmt.Sprintf(" (not retried for %s)", e.HoldDown)
	}
	return s
}

// Is reports whether target is a *ResultError with the same Code.
func (e *ResultError) Is(target error) bool {
	t, ok := target.(*ResultError)
	return ok && t.Code == e.Code
}

// ErrUnsupportedVersion is matched (errors.Is) by every [*VersionError].
var ErrUnsupportedVersion = errors.New("pcp: server does not support PCP version 2")

// VersionError is returned at once (without retransmission) when the server
// answers UNSUPP_VERSION. ServerVersion is the version the server says it
// speaks: 0 means a NAT-PMP-only server (RFC 6887 §9: the caller should use
// NAT-PMP, RFC 6886); 1 is the pre-RFC PCP draft, which this package does
// not speak. The failure is not remembered: the next request tries PCP
// version 2 again, so a gateway that gains PCP (firmware update) is used.
type VersionError struct {
	ServerVersion uint8
	Server        netip.AddrPort
	Epoch         uint32 // the server's epoch time in the reply
	// NATPMP is true when the reply was a NAT-PMP "unsupported version"
	// packet (RFC 6886 §3.5) rather than a PCP response.
	NATPMP bool
}

// Error returns e.g. "pcp: server speaks only version 0 (NAT-PMP):
// UNSUPP_VERSION".
func (e *VersionError) Error() string {
	v := strconv.Itoa(int(e.ServerVersion))
	if e.ServerVersion == 0 {
		v += " (NAT-PMP)"
	}
	return "pcp: server speaks only version " + v + ": 1 UNSUPP_VERSION"
}

// Is makes errors.Is(err, ErrUnsupportedVersion) true.
func (e *VersionError) Is(target error) bool { return target == ErrUnsupportedVersion }

// Sentinel errors; test with errors.Is.
var (
	// ErrMalformed is wrapped by every decoding error.
	ErrMalformed = errors.New("pcp: malformed message")
	// ErrNoResponse means no matching response came back: the
	// retransmission limits (MRC, MRD) were reached or the context ended
	// first (then the error also wraps the context's error).
	ErrNoResponse = errors.New("pcp: no response from server")
	// ErrClosed is returned by calls on a closed [Client].
	ErrClosed = errors.New("pcp: client closed")
	// ErrInvalidRequest is returned before anything is sent when a request
	// cannot be valid (e.g. protocol 0 with a non-zero port).
	ErrInvalidRequest = errors.New("pcp: invalid request")
)
