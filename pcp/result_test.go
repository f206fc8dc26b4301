package pcp

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestResultCodeNames(t *testing.T) {
	want := []string{"SUCCESS", "UNSUPP_VERSION", "NOT_AUTHORIZED", "MALFORMED_REQUEST", "UNSUPP_OPCODE",
		"UNSUPP_OPTION", "MALFORMED_OPTION", "NETWORK_FAILURE", "NO_RESOURCES", "UNSUPP_PROTOCOL",
		"USER_EX_QUOTA", "CANNOT_PROVIDE_EXTERNAL", "ADDRESS_MISMATCH", "EXCESSIVE_REMOTE_PEERS"}
	for i, w := range want {
		c := ResultCode(i)
		if c.String() != w {
			t.Errorf("%d: %q, want %q", i, c.String(), w)
		}
		if c.Description() == "" || c.Description() == "unknown result code" {
			t.Errorf("%d: no description", i)
		}
	}
	if ResultCode(14).String() != "Result(14)" || ResultCode(14).Description() != "unknown result code" {
		t.Error("unknown code naming")
	}
}

func TestShortLifetime(t *testing.T) {
	short := map[ResultCode]bool{NetworkFailure: true, NoResources: true, UserExQuota: true}
	for c := ResultCode(1); c <= 13; c++ {
		if c.ShortLifetime() != short[c] {
			t.Errorf("%s.ShortLifetime() = %v", c, c.ShortLifetime())
		}
	}
}

func TestHoldDownFor(t *testing.T) {
	tests := []struct {
		c        ResultCode
		lifetime uint32
		want     time.Duration
	}{
		{NoResources, 30, 30 * time.Second},
		{NoResources, 3600, 30 * time.Second}, // short errors: at most 30 s
		{NetworkFailure, 5, 5 * time.Second},
		{UserExQuota, 0, 0},
		{NotAuthorized, 0, 0}, // miniupnpd
		{NotAuthorized, 1800, 30 * time.Minute},
		{AddressMismatch, 600, 10 * time.Minute},
		{UnsuppProtocol, 1 << 31, 30 * time.Minute},
		// Lifetime "depends on the reason" (§7.4): the server's, long cap.
		{CannotProvideExternal, 600, 10 * time.Minute},
		{CannotProvideExternal, 5, 5 * time.Second},
		{CannotProvideExternal, 7200, 30 * time.Minute},
	}
	for _, tt := range tests {
		if got := holdDownFor(tt.c, tt.lifetime); got != tt.want {
			t.Errorf("holdDownFor(%s, %d) = %v, want %v", tt.c, tt.lifetime, got, tt.want)
		}
	}
}

func TestResultErrorText(t *testing.T) {
	e := &ResultError{Code: AddressMismatch, Opcode: OpMap}
	if got, want := e.Error(), "pcp: MAP refused: 12 ADDRESS_MISMATCH: there is another NAT between you and the PCP server"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	e = &ResultError{Code: NoResources, Opcode: OpPeer, HoldDown: 30 * time.Second}
	if !strings.Contains(e.Error(), "8 NO_RESOURCES") || !strings.Contains(e.Error(), "30s") {
		t.Errorf("Error() = %q", e.Error())
	}
	wrapped := fmt.Errorf("ctx: %w", e)
	if !errors.Is(wrapped, &ResultError{Code: NoResources}) || errors.Is(wrapped, &ResultError{Code: NotAuthorized}) {
		t.Error("errors.Is by code")
	}
	var re *ResultError
	if !errors.As(wrapped, &re) || re.Code != NoResources {
		t.Error("errors.As")
	}
}

func TestVersionError(t *testing.T) {
	err := fmt.Errorf("x: %w", &VersionError{ServerVersion: 0, NATPMP: true})
	if !errors.Is(err, ErrUnsupportedVersion) {
		t.Error("errors.Is(ErrUnsupportedVersion)")
	}
	var ve *VersionError
	if !errors.As(err, &ve) || ve.ServerVersion != 0 {
		t.Error("errors.As")
	}
	if !strings.Contains(ve.Error(), "NAT-PMP") || !strings.Contains(ve.Error(), "UNSUPP_VERSION") {
		t.Errorf("Error() = %q", ve.Error())
	}
	if s := (&VersionError{ServerVersion: 1}).Error(); strings.Contains(s, "NAT-PMP") || !strings.Contains(s, "version 1") {
		t.Errorf("Error() = %q", s)
	}
	if errors.Is(&ResultError{Code: UnsuppVersion}, ErrUnsupportedVersion) {
		t.Error("a ResultError is not a VersionError")
	}
}

func TestNames(t *testing.T) {
	for got, want := range map[string]string{
		OpAnnounce.String(): "ANNOUNCE", OpMap.String(): "MAP", OpPeer.String(): "PEER", Opcode(9).String(): "Opcode(9)",
		TCP.String(): "TCP", UDP.String(): "UDP", ProtocolAll.String(): "all", SCTP.String(): "SCTP", DCCP.String(): "DCCP",
		Protocol(1).String(): "Protocol(1)", EventAnnounce.String(): "announce", EventMapping.String(): "mapping",
		EventReboot.String(): "reboot", EventKind(0).String(): "EventKind(0)",
	} {
		if got != want {
			t.Errorf("%q, want %q", got, want)
		}
	}
}
