package natpmp

import (
	"errors"
	"fmt"
	"testing"
)

func TestResultCodeString(t *testing.T) {
	tests := []struct {
		code ResultCode
		want string
	}{
		{ResultSuccess, "Success"},
		{ResultUnsupportedVersion, "UnsupportedVersion"},
		{ResultNotAuthorized, "NotAuthorized"},
		{ResultNetworkFailure, "NetworkFailure"},
		{ResultOutOfResources, "OutOfResources"},
		{ResultUnsupportedOpcode, "UnsupportedOpcode"},
		{6, "Result(6)"},
		{65535, "Result(65535)"},
	}
	for _, tt := range tests {
		if got := tt.code.String(); got != tt.want {
			t.Errorf("ResultCode(%d).String() = %q, want %q", uint16(tt.code), got, tt.want)
		}
	}
}

func TestResultError(t *testing.T) {
	err := fmt.Errorf("wrapped: %w", &ResultError{Code: ResultNetworkFailure, Op: OpMapTCP, Epoch: 5})
	want := "wrapped: natpmp: 3 NetworkFailure in reply to map TCP: the gateway has no working external network (e.g. no DHCP lease yet)"
	if err.Error() != want {
		t.Errorf("Error() = %q\nwant      %q", err.Error(), want)
	}
	var re *ResultError
	if !errors.As(err, &re) || re.Code != ResultNetworkFailure || re.Op != OpMapTCP || re.Epoch != 5 {
		t.Errorf("errors.As gave %+v", re)
	}
	if !errors.Is(err, &ResultError{Code: ResultNetworkFailure}) {
		t.Error("errors.Is does not match the same code")
	}
	if errors.Is(err, &ResultError{Code: ResultNotAuthorized}) {
		t.Error("errors.Is matches another code")
	}
	if got := (&ResultError{Code: 9}).Error(); got != "natpmp: 9 Result(9) in reply to external address request: unknown result code" {
		t.Errorf("unknown code: %q", got)
	}
}

func TestOpcodeAndProtocolString(t *testing.T) {
	tests := []struct {
		got, want string
	}{
		{OpExternalAddress.String(), "ExternalAddress"},
		{OpMapUDP.String(), "MapUDP"},
		{(OpReply | OpMapTCP).String(), "MapTCPReply"},
		{Opcode(7).String(), "Opcode(7)"},
		{Opcode(135).String(), "Opcode(135)"},
		{TCP.String(), "TCP"},
		{UDP.String(), "UDP"},
		{Protocol(6).String(), "Protocol(6)"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}
