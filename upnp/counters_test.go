package upnp

import (
	"context"
	"testing"
)

func TestCommonInterfaceConfigFixtures(t *testing.T) {
	_, svc := fixtureDevice(t, urnCIC1, map[string]string{
		"GetTotalBytesSent":       "miniupnpd-soap-2.3.1-GetTotalBytesSent.xml",
		"GetTotalBytesReceived":   "miniupnpd-soap-2.3.1-GetTotalBytesReceived.xml",
		"GetTotalPacketsSent":     "miniupnpd-soap-2.3.1-GetTotalPacketsSent.xml",
		"GetTotalPacketsReceived": "miniupnpd-soap-2.3.1-GetTotalPacketsReceived.xml",
		"GetCommonLinkProperties": "miniupnpd-soap-2.3.1-GetCommonLinkProperties.xml",
	})
	c := NewCommonInterfaceConfig(svc, nil)
	ctx := context.Background()
	got, err := c.GetCounters(ctx)
	want := Counters{BytesSent: 1256, BytesReceived: 1501, PacketsSent: 14, PacketsReceived: 21}
	if err != nil || got != want {
		t.Errorf("counters %+v %v", got, err)
	}
	lp, err := c.GetCommonLinkProperties(ctx)
	wantLP := LinkProperties{WANAccessType: "Cable", UpstreamMaxBitRate: 1410065408, DownstreamMaxBitRate: 1410065408, PhysicalLinkStatus: "Up"}
	if err != nil || lp != wantLP {
		t.Errorf("link %+v %v", lp, err)
	}
}

func TestParseCounter(t *testing.T) {
	tests := []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"0", 0, true}, {" 4294967295 ", 4294967295, true}, {"18446744073709551615", 18446744073709551615, true},
		{"-1", 4294967295, true}, {"-2147483648", 2147483648, true}, {"x", 0, false}, {"", 0, false},
	}
	for _, tt := range tests {
		got, err := parseCounter(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseCounter(%q) = %d, %v", tt.in, got, err)
		}
	}
}
