//go:build linux

package main

import (
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
)

// The requests miniupnpd logs (it runs with -d, debug logging): counting
// them tells how many round trips each tool spends.
var (
	logSOAP   = regexp.MustCompile(`SOAPAction: \S*#(\w+)`)
	logGET    = regexp.MustCompile(`HTTP REQUEST from \S+ : GET `)
	logSearch = regexp.MustCompile(`SSDP M-SEARCH from `)
	logNATPMP = regexp.MustCompile(`NAT-PMP request received`)
	logPCP    = regexp.MustCompile(`PCP request received`)
)

// gwLogMark is a position in the gateway's current log.
type gwLogMark struct {
	path string
	off  int64
}

// gatewayLogMark marks the end of the gateway's log.
func (b *bench) gatewayLogMark() gwLogMark {
	if b.tb == nil {
		return gwLogMark{}
	}
	m := gwLogMark{path: b.tb.LogFile()}
	if fi, err := os.Stat(m.path); err == nil {
		m.off = fi.Size()
	}
	return m
}

// gatewayRequests summarises the requests the gateway logged since mark:
// "5 SSDP, 1 GET, 1 GetStatusInfo, 1 AddPortMapping".
func gatewayRequests(m gwLogMark) string {
	if m.path == "" {
		return ""
	}
	f, err := os.Open(m.path)
	if err != nil {
		return ""
	}
	defer f.Close()
	if _, err := f.Seek(m.off, io.SeekStart); err != nil {
		return ""
	}
	b, err := io.ReadAll(io.LimitReader(f, 256<<20))
	if err != nil {
		return ""
	}
	text := string(b)
	var parts []string
	add := func(n int, what string) {
		if n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, what))
		}
	}
	add(len(logSearch.FindAllStringIndex(text, -1)), "SSDP")
	add(len(logNATPMP.FindAllStringIndex(text, -1)), "NAT-PMP")
	add(len(logPCP.FindAllStringIndex(text, -1)), "PCP")
	add(len(logGET.FindAllStringIndex(text, -1)), "GET")
	counts := map[string]int{}
	var order []string
	for _, m := range logSOAP.FindAllStringSubmatch(text, -1) {
		if counts[m[1]] == 0 {
			order = append(order, m[1])
		}
		counts[m[1]]++
	}
	for _, a := range order {
		add(counts[a], a)
	}
	return strings.Join(parts, ", ")
}
