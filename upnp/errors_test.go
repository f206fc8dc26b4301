package upnp

import (
	"errors"
	"fmt"
	"testing"
)

func TestSOAPErrorIsAndNames(t *testing.T) {
	tests := []struct {
		code     int
		sentinel ErrorCode
		name     string
	}{
		{401, ErrInvalidAction, "InvalidAction"},
		{402, ErrInvalidArgs, "InvalidArgs"},
		{501, ErrActionFailed, "ActionFailed"},
		{606, ErrActionNotAuthorized, "ActionNotAuthorized"},
		{701, ErrPinholeSpaceExhausted, "PinholeSpaceExhausted"},
		{702, ErrFirewallDisabled, "FirewallDisabled"},
		{703, ErrInboundPinholeNotAllowed, "InboundPinholeNotAllowed"},
		{704, ErrNoSuchEntry, "NoSuchEntry"},
		{705, ErrProtocolNotSupported, "ProtocolNotSupported"},
		{706, ErrInternalPortWildcardingNotAllowed, "InternalPortWildcardingNotAllowed"},
		{707, ErrProtocolWildcardingNotAllowed, "ProtocolWildcardingNotAllowed"},
		{708, ErrPinholeWildCardNotPermittedInSrcIP, "WildCardNotPermittedInSrcIP"},
		{709, ErrNoPacketSent, "NoPacketSent"},
		{713, ErrSpecifiedArrayIndexInvalid, "SpecifiedArrayIndexInvalid"},
		{714, ErrNoSuchEntryInArray, "NoSuchEntryInArray"},
		{715, ErrWildCardNotPermittedInSrcIP, "WildCardNotPermittedInSrcIP"},
		{716, ErrWildCardNotPermittedInExtPort, "WildCardNotPermittedInExtPort"},
		{718, ErrConflictInMappingEntry, "ConflictInMappingEntry"},
		{724, ErrSamePortValuesRequired, "SamePortValuesRequired"},
		{725, ErrOnlyPermanentLeasesSupported, "OnlyPermanentLeasesSupported"},
		{726, ErrRemoteHostOnlySupportsWildcard, "RemoteHostOnlySupportsWildcard"},
		{727, ErrExternalPortOnlySupportsWildcard, "ExternalPortOnlySupportsWildcard"},
		{728, ErrNoPortMapsAvailable, "NoPortMapsAvailable"},
		{729, ErrConflictWithOtherMechanisms, "ConflictWithOtherMechanisms"},
		{730, ErrPortMappingNotFound, "PortMappingNotFound"},
		{731, ErrReadOnly, "ReadOnly"},
		{732, ErrWildCardNotPermittedInIntPort, "WildCardNotPermittedInIntPort"},
		{733, ErrInconsistentParameters, "InconsistentParameters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error = fmt.Errorf("wrapped: %w", &SOAPError{Code: tt.code, Description: "d", Action: "AddPortMapping"})
			if !errors.Is(err, tt.sentinel) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.sentinel)
			}
			if errors.Is(err, ErrorCode(tt.code+1000)) {
				t.Error("matched another code")
			}
			var se *SOAPError
			if !errors.As(err, &se) || se.Name() != tt.name || se.Code != tt.code {
				t.Errorf("As: %+v name %q", se, se.Name())
			}
			if tt.sentinel.String() != tt.name {
				t.Errorf("String = %q", tt.sentinel.String())
			}
		})
	}
}

func TestSOAPErrorMessage(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{&SOAPError{Code: 718, Description: "ConflictInMappingEntry", Action: "AddPortMapping"}, "upnp: AddPortMapping refused: 718 ConflictInMappingEntry"},
		{&SOAPError{Code: 402, Description: "Invalid Args", Action: "AddPortMapping"}, "upnp: AddPortMapping refused: 402 InvalidArgs (Invalid Args)"},
		{&SOAPError{Code: 899, Action: "X"}, "upnp: X refused: 899 Error899"},
		{ErrConflictInMappingEntry, "upnp: 718 ConflictInMappingEntry"},
		{&HTTPError{StatusCode: 500, Action: "X"}, "upnp: X: HTTP 500 Internal Server Error without a UPnP fault"},
		{&HTTPError{StatusCode: 307, Action: "X", Location: "http://192.0.2.1/c"}, `upnp: X: control URL redirects (HTTP 307 Temporary Redirect) to "http://192.0.2.1/c": not followed`},
		{&HTTPError{StatusCode: 302, Action: "X"}, "upnp: X: control URL redirects (HTTP 302 Found): not followed"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
}
