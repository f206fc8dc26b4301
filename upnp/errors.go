package upnp

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
)

// ErrorCode is a UPnP action error code as carried in a SOAP fault's
// UPnPError/errorCode element. The named ErrorCode constants are sentinel
// errors: errors.Is(err, ErrConflictInMappingEntry) reports whether err is
// (or wraps) a *SOAPError with code 718.
type ErrorCode int

// UPnP Device Architecture error codes (any action).
const (
	ErrInvalidAction        ErrorCode = 401 // no such action on this service
	ErrInvalidArgs          ErrorCode = 402 // bad argument count, name, type or value
	ErrActionFailed         ErrorCode = 501 // the device could not do it now
	ErrArgumentValueInvalid ErrorCode = 600 // value invalid
	ErrArgumentOutOfRange   ErrorCode = 601 // value out of range
	ErrOptionalNotSupported ErrorCode = 602 // optional action not implemented
	ErrOutOfMemory          ErrorCode = 603 // out of memory
	ErrHumanIntervention    ErrorCode = 604 // human intervention required
	ErrStringTooLong        ErrorCode = 605 // string argument too long
	ErrActionNotAuthorized  ErrorCode = 606 // action not authorized (also pinhole calls from another address)
)

// WANIPConnection / WANPPPConnection port mapping error codes.
const (
	ErrSpecifiedArrayIndexInvalid       ErrorCode = 713 // GetGenericPortMappingEntry index past the end
	ErrNoSuchEntryInArray               ErrorCode = 714 // no mapping matches
	ErrWildCardNotPermittedInSrcIP      ErrorCode = 715 // RemoteHost must not be a wildcard
	ErrWildCardNotPermittedInExtPort    ErrorCode = 716 // ExternalPort must not be a wildcard
	ErrConflictInMappingEntry           ErrorCode = 718 // external port already mapped to another client
	ErrSamePortValuesRequired           ErrorCode = 724 // internal and external port must be equal
	ErrOnlyPermanentLeasesSupported     ErrorCode = 725 // lease must be 0
	ErrRemoteHostOnlySupportsWildcard   ErrorCode = 726 // RemoteHost must be empty
	ErrExternalPortOnlySupportsWildcard ErrorCode = 727 // ExternalPort must be 0
	ErrNoPortMapsAvailable              ErrorCode = 728 // table full or no free port
	ErrConflictWithOtherMechanisms      ErrorCode = 729 // clashes with another mapping mechanism (e.g. PCP)
	ErrPortMappingNotFound              ErrorCode = 730 // nothing in the given range (v2 range actions)
	ErrReadOnly                         ErrorCode = 731 // mappings are read-only
	ErrWildCardNotPermittedInIntPort    ErrorCode = 732 // InternalPort must not be a wildcard
	ErrInconsistentParameters           ErrorCode = 733 // parameters contradict each other
)

// WANIPv6FirewallControl:1 error codes. The range 701-712 is reused by
// WANIPConnection for connection-management actions this package does not
// call, so these names and sentinels follow the firewall service.
const (
	ErrPinholeSpaceExhausted              ErrorCode = 701 // no room for another pinhole
	ErrFirewallDisabled                   ErrorCode = 702 // the IPv6 firewall is off: nothing to open
	ErrInboundPinholeNotAllowed           ErrorCode = 703 // the device does not allow inbound pinholes
	ErrNoSuchEntry                        ErrorCode = 704 // no pinhole with that UniqueID
	ErrProtocolNotSupported               ErrorCode = 705 // protocol number not supported
	ErrInternalPortWildcardingNotAllowed  ErrorCode = 706 // InternalPort must not be 0
	ErrProtocolWildcardingNotAllowed      ErrorCode = 707 // Protocol must not be 65535
	ErrPinholeWildCardNotPermittedInSrcIP ErrorCode = 708 // RemoteHost must not be a wildcard
	ErrNoPacketSent                       ErrorCode = 709 // CheckPinholeWorking: no traffic seen yet
)

var errorNames = map[ErrorCode]string{
	401: "InvalidAction",
	402: "InvalidArgs",
	501: "ActionFailed",
	600: "ArgumentValueInvalid",
	601: "ArgumentValueOutOfRange",
	602: "OptionalActionNotImplemented",
	603: "OutOfMemory",
	604: "HumanInterventionRequired",
	605: "StringArgumentTooLong",
	606: "ActionNotAuthorized",
	701: "PinholeSpaceExhausted",
	702: "FirewallDisabled",
	703: "InboundPinholeNotAllowed",
	704: "NoSuchEntry",
	705: "ProtocolNotSupported",
	706: "InternalPortWildcardingNotAllowed",
	707: "ProtocolWildcardingNotAllowed",
	708: "WildCardNotPermittedInSrcIP",
	709: "NoPacketSent",
	713: "SpecifiedArrayIndexInvalid",
	714: "NoSuchEntryInArray",
	715: "WildCardNotPermittedInSrcIP",
	716: "WildCardNotPermittedInExtPort",
	718: "ConflictInMappingEntry",
	724: "SamePortValuesRequired",
	725: "OnlyPermanentLeasesSupported",
	726: "RemoteHostOnlySupportsWildcard",
	727: "ExternalPortOnlySupportsWildcard",
	728: "NoPortMapsAvailable",
	729: "ConflictWithOtherMechanisms",
	730: "PortMappingNotFound",
	731: "ReadOnly",
	732: "WildCardNotPermittedInIntPort",
	733: "InconsistentParameters",
}

// String returns the code's name from the UPnP specifications, or
// "Error<code>" when the code is unknown.
func (c ErrorCode) String() string {
	if n, ok := errorNames[c]; ok {
		return n
	}
	return "Error" + strconv.Itoa(int(c))
}

// Error makes ErrorCode usable as a sentinel error.
func (c ErrorCode) Error() string {
	return "upnp: " + strconv.Itoa(int(c)) + " " + c.String()
}

// SOAPError is a UPnP fault returned by the device for one action.
type SOAPError struct {
	// Code is the UPnPError errorCode.
	Code int
	// Description is the device's errorDescription (may be empty).
	Description string
	// Action is the SOAP action that failed, such as "AddPortMapping".
	Action string
}

// Name returns the spec name of the code, such as "ConflictInMappingEntry".
func (e *SOAPError) Name() string { return ErrorCode(e.Code).String() }

// Error returns "upnp: <Action> refused: <code> <Name> (<description>)".
func (e *SOAPError) Error() string {
	s := "upnp: " + e.Action + " refused: " + strconv.Itoa(e.Code) + " " + e.Name()
	if e.Description != "" && e.Description != e.Name() {
		s += " (" + e.Description + ")"
	}
	return s
}

// Is reports whether target is the ErrorCode sentinel with the same code.
func (e *SOAPError) Is(target error) bool {
	c, ok := target.(ErrorCode)
	return ok && int(c) == e.Code
}

// HTTPError is a non-200 HTTP reply that carried no parseable UPnP fault,
// or a redirect, which is never followed.
type HTTPError struct {
	// StatusCode is the HTTP status code.
	StatusCode int
	// Action is the SOAP action that was attempted.
	Action string
	// Location is the redirect target of a 3xx reply, with any password
	// redacted; empty otherwise.
	Location string
}

// Error returns a message including the HTTP status.
func (e *HTTPError) Error() string {
	if isRedirect(e.StatusCode) {
		to := ""
		if e.Location != "" {
			to = fmt.Sprintf(" to %q", e.Location)
		}
		return fmt.Sprintf("upnp: %s: control URL redirects (HTTP %d %s)%s: not followed", e.Action, e.StatusCode, http.StatusText(e.StatusCode), to)
	}
	return fmt.Sprintf("upnp: %s: HTTP %d %s without a UPnP fault", e.Action, e.StatusCode, http.StatusText(e.StatusCode))
}

// Is makes a redirect match ErrUnsafeURL: its target is a URL the device
// gave that the package refused to use.
func (e *HTTPError) Is(target error) bool {
	return target == ErrUnsafeURL && isRedirect(e.StatusCode)
}

// isRedirect reports whether code is a 3xx status.
func isRedirect(code int) bool { return code >= 300 && code < 400 }

// redactedLocation returns resp's Location header with any password
// redacted.
func redactedLocation(resp *http.Response) string {
	loc := resp.Header.Get("Location")
	if u, err := url.Parse(loc); err == nil {
		return u.Redacted()
	}
	return loc
}

// Sentinel errors that are not UPnP fault codes.
var (
	// ErrNoExternalAddress is wrapped when the device reports an empty,
	// unspecified or unparsable external IP address.
	ErrNoExternalAddress = errors.New("upnp: no external IP address")
	// ErrResponseTooLarge is returned when a reply exceeds the size limit.
	ErrResponseTooLarge = errors.New("upnp: SOAP response too large")
	// ErrMalformedResponse is wrapped when a reply cannot be parsed.
	ErrMalformedResponse = errors.New("upnp: malformed SOAP response")
)
