//go:build linux

package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestQuantile(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		q      float64
		want   time.Duration
	}{
		{"empty", nil, 0.5, 0},
		{"one", ms(7), 0.5, 7 * time.Millisecond},
		{"odd median", ms(1, 2, 9), 0.5, 2 * time.Millisecond},
		{"even median interpolates", ms(1, 2, 4, 9), 0.5, 3 * time.Millisecond},
		{"p90 of 10 is the 9th", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 0.9, 9 * time.Millisecond},
		{"p90 of 15 is the 14th", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), 0.9, 14 * time.Millisecond},
		{"p90 of 3 is the max", ms(1, 2, 3), 0.9, 3 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := quantile(tt.sorted, tt.q); got != tt.want {
				t.Errorf("quantile(%v, %v) = %v, want %v", tt.sorted, tt.q, got, tt.want)
			}
		})
	}
}

func TestRatioAndMs(t *testing.T) {
	tests := []struct{ got, want string }{
		{ratio(2100*time.Millisecond, 20*time.Millisecond), "105x"},
		{ratio(30*time.Millisecond, 20*time.Millisecond), "1.50x"},
		{ratio(0, time.Second), "-"},
		{ms(1500 * time.Microsecond), "1.50"},
		{ms(25 * time.Millisecond), "25.0"},
		{ms(2100 * time.Millisecond), "2100"},
		{ms(0), "-"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

// TestAlternate checks that trials run interleaved and that a trial with
// fewer runs than rounds runs exactly that often, in evenly spaced rounds.
func TestAlternate(t *testing.T) {
	b := &bench{log: &strings.Builder{}}
	var order []string
	mk := func(name string, runs int) *trial {
		return &trial{s: &series{name: name}, runs: runs, cmd: func(ctx context.Context, i int) *exec.Cmd {
			order = append(order, name)
			return exec.CommandContext(ctx, "true")
		}}
	}
	fast, slow := mk("fast", 6), mk("slow", 2)
	other := mk("other", 6)
	b.alternate(t.Context(), []*trial{fast, slow, other})
	if len(fast.s.samples) != 6 || len(other.s.samples) != 6 || len(slow.s.samples) != 2 {
		t.Fatalf("runs: fast %d, other %d, slow %d; want 6, 6, 2 (order %v)", len(fast.s.samples), len(other.s.samples), len(slow.s.samples), order)
	}
	// Rounds 0 and 3 run slow; each round starts one trial further.
	want := "fast slow other other fast other fast fast slow other other fast other fast"
	if got := strings.Join(order, " "); got != want {
		t.Errorf("order\n%s\nwant\n%s", got, want)
	}
}

func TestGatewayRequests(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "miniupnpd.log")
	before := "miniupnpd[1]: SOAPAction: urn:schemas-upnp-org:service:WANIPConnection:2#AddPortMapping\n"
	after := `miniupnpd[1]: SSDP M-SEARCH from 10.77.0.2:5000 ST: upnp:rootdevice
miniupnpd[1]: SSDP M-SEARCH from 10.77.0.2:5000 ST: urn:schemas-upnp-org:device:InternetGatewayDevice:2
miniupnpd[1]: HTTP REQUEST from [::ffff:10.77.0.2]:37682 : GET /rootDesc.xml (HTTP/1.1)
miniupnpd[1]: HTTP REQUEST from [::ffff:10.77.0.2]:37684 : POST /ctl/IPConn (HTTP/1.1)
miniupnpd[1]: SOAPAction: urn:schemas-upnp-org:service:WANIPConnection:2#GetStatusInfo
miniupnpd[1]: SOAPAction: urn:schemas-upnp-org:service:WANIPConnection:2#GetExternalIPAddress
miniupnpd[1]: SOAPAction: urn:schemas-upnp-org:service:WANIPConnection:2#GetExternalIPAddress
miniupnpd[1]: NAT-PMP request received from 10.77.0.2:57914 2bytes
miniupnpd[1]: PCP request received from 10.77.0.2:50603 24bytes
`
	if err := os.WriteFile(path, []byte(before), 0o644); err != nil {
		t.Fatal(err)
	}
	m := gwLogMark{path: path, off: int64(len(before))}
	if err := os.WriteFile(path, []byte(before+after), 0o644); err != nil {
		t.Fatal(err)
	}
	got := gatewayRequests(m)
	want := "2 SSDP, 1 NAT-PMP, 1 PCP, 1 GET, 1 GetStatusInfo, 2 GetExternalIPAddress"
	if got != want {
		t.Errorf("gatewayRequests = %q, want %q", got, want)
	}
	if got := gatewayRequests(gwLogMark{}); got != "" {
		t.Errorf("without a log: %q", got)
	}
}

func TestBenchLine(t *testing.T) {
	tests := []struct {
		line                   string
		name, ns, bytes, alloc string
	}{
		{"BenchmarkExchange-2   \t 5087974\t        23.53 ns/op\t       0 B/op\t       0 allocs/op", "BenchmarkExchange", "23.53", "0", "0"},
		{"BenchmarkRequestParse-2   50823036   2.845 ns/op   4217.95 MB/s   0 B/op   0 allocs/op", "BenchmarkRequestParse", "2.845", "0", "0"},
		{"BenchmarkDescriptionParse-2  996  120020 ns/op  25.75 MB/s  44232 B/op  1136 allocs/op", "BenchmarkDescriptionParse", "120020", "44232", "1136"},
		{"BenchmarkNoMem-2  996  120 ns/op", "BenchmarkNoMem", "120", "", ""},
	}
	for _, tt := range tests {
		m := benchLine.FindStringSubmatch(tt.line)
		if m == nil {
			t.Errorf("%q: no match", tt.line)
			continue
		}
		if m[1] != tt.name || m[2] != tt.ns || m[3] != tt.bytes || m[4] != tt.alloc {
			t.Errorf("%q: got %q", tt.line, m[1:])
		}
	}
}

func TestProcStatus(t *testing.T) {
	if rss := procStatus("VmRSS"); rss <= 0 {
		t.Errorf("VmRSS = %d KiB", rss)
	}
	if cpu := cpuTime(); cpu <= 0 {
		t.Errorf("cpuTime = %v", cpu)
	}
}
