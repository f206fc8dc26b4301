package natpmp

import (
	"fmt"
	"strconv"
)

// ResultCode is the result code of a NAT-PMP reply (RFC 6886 §3.5).
type ResultCode uint16

// Result codes defined by RFC 6886 §3.5.
const (
	ResultSuccess            ResultCode = 0
	ResultUnsupportedVersion ResultCode = 1
	ResultNotAuthorized      ResultCode = 2 // Not Authorized/Refused
	ResultNetworkFailure     ResultCode = 3 // e.g. the gateway has no DHCP lease yet
	ResultOutOfResources     ResultCode = 4 // cannot create more mappings now
	ResultUnsupportedOpcode  ResultCode = 5
)

var resultNames = [...]string{
	ResultSuccess:            "Success",
	ResultUnsupportedVersion: "UnsupportedVersion",
	ResultNotAuthorized:      "NotAuthorized",
	ResultNetworkFailure:     "NetworkFailure",
	ResultOutOfResources:     "OutOfResources",
	ResultUnsupportedOpcode:  "UnsupportedOpcode",
}

var resultDescriptions = [...]string{
	ResultSuccess:            "success",
	ResultUnsupportedVersion: "the gateway does not support this protocol version",
	ResultNotAuthorized:      "refused: port mapping is disabled or not allowed for this host or port",
	ResultNetworkFailure:     "the gateway has no working external network (e.g. no DHCP lease yet)",
	ResultOutOfResources:     "the gateway cannot create more mappings now",
	ResultUnsupportedOpcode:  "the gateway does not support this operation",
}

// String returns the code's name, e.g. "NotAuthorized", or "Result(N)" for
// codes RFC 6886 does not define.
func (c ResultCode) String() string {
	if int(c) < len(resultNames) {
		return resultNames[c]
	}
	return "Result(" + strconv.Itoa(int(c)) + ")"
}

// ResultError is the error returned when the gateway answers with a result
// code other than [ResultSuccess].
//
// errors.Is(err, &ResultError{Code: ResultNotAuthorized}) matches any
// *ResultError with that code, whatever the other fields.
type ResultError struct {
	Code  ResultCode
	Op    Opcode // the request's opcode (0, 1 or 2)
	Epoch uint32 // the gateway's seconds since start of epoch in the reply
}

// Error returns e.g. "natpmp: 3 NetworkFailure in reply to map TCP: the
// gateway has no working external network (e.g. no DHCP lease yet)".
func (e *ResultError) Error() string {
	desc := "unknown result code"
	if int(e.Code) < len(resultDescriptions) {
		desc = resultDescriptions[e.Code]
	}
	return fmt.Sprintf("natpmp: %d %s in reply to %s: %s", uint16(e.Code), e.Code, e.Op.request(), desc)
}

// Is reports whether target is a *ResultError with the same code.
func (e *ResultError) Is(target error) bool {
	t, ok := target.(*ResultError)
	return ok && t != nil && t.Code == e.Code
}
