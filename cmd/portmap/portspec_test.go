package main

import (
	"errors"
	"testing"

	"github.com/portmap-dev/portmap"
)

func TestParseMapSpec(t *testing.T) {
	tests := []struct {
		in   string
		want portSpec
		bad  bool
	}{
		{in: "8080", want: portSpec{Internal: 8080, Transport: portmap.TCP}},
		{in: "8080/udp", want: portSpec{Internal: 8080, Transport: portmap.UDP}},
		{in: "18080:8080/udp", want: portSpec{External: 18080, Internal: 8080, Transport: portmap.UDP}},
		{in: "18080:8080/TCP", want: portSpec{External: 18080, Internal: 8080, Transport: portmap.TCP}},
		{in: "1:65535", want: portSpec{External: 1, Internal: 65535, Transport: portmap.TCP}},
		{in: "0", bad: true},
		{in: "65536", bad: true},
		{in: "abc", bad: true},
		{in: "", bad: true},
		{in: "-1", bad: true},
		{in: "8080/sctp", bad: true},
		{in: "8080/", bad: true},
		{in: ":8080", bad: true},
		{in: "8080:", bad: true},
		{in: "1:2:3", bad: true},
		{in: " 8080", bad: true},
	}
	for _, tt := range tests {
		got, err := parseMapSpec(tt.in)
		if tt.bad {
			var ue *usageError
			if !errors.As(err, &ue) {
				t.Errorf("parseMapSpec(%q) = %+v, %v; want a usage error", tt.in, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("parseMapSpec(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

func TestParseDeleteSpec(t *testing.T) {
	got, err := parseDeleteSpec("18080/udp")
	if err != nil || got != (portSpec{External: 18080, Transport: portmap.UDP}) {
		t.Errorf("got %+v, %v", got, err)
	}
	got, err = parseDeleteSpec("18080:8080")
	if err != nil || got != (portSpec{External: 18080, Internal: 8080, Transport: portmap.TCP}) {
		t.Errorf("got %+v, %v", got, err)
	}
	for _, bad := range []string{"x", "0", "1:0", "99999/tcp"} {
		if _, err := parseDeleteSpec(bad); err == nil {
			t.Errorf("parseDeleteSpec(%q) accepted", bad)
		}
	}
}

func TestParseRange(t *testing.T) {
	got, err := parseRange("8000-8100/udp")
	if err != nil || got != (portRange{8000, 8100, portmap.UDP}) {
		t.Errorf("got %+v, %v", got, err)
	}
	got, err = parseRange("8000-8100")
	if err != nil || got != (portRange{8000, 8100, ""}) {
		t.Errorf("got %+v, %v", got, err)
	}
	for _, bad := range []string{"8100-8000", "8000", "a-b", "1-70000", "1-2/icmp"} {
		if _, err := parseRange(bad); err == nil {
			t.Errorf("parseRange(%q) accepted", bad)
		}
	}
}
