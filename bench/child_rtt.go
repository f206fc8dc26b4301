//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"
)

// rttResult is what the rtt child measured, in nanoseconds.
type rttResult struct {
	UDP  rttStats `json:"udp"`  // NAT-PMP external address request/reply
	SOAP rttStats `json:"soap"` // new TCP connection + SOAP GetExternalIPAddress
	Desc rttStats `json:"desc"` // new TCP connection + GET rootDesc.xml
	SSDP rttStats `json:"ssdp"` // unicast M-SEARCH to the gateway, first answer
	// AddPM and DelPM are SOAP AddPortMapping and DeletePortMapping, each
	// on a new TCP connection: what the gateway needs to make a mapping.
	AddPM rttStats `json:"add_pm"`
	DelPM rttStats `json:"del_pm"`
	// UDPAfterSSDP is the NAT-PMP round trip when sent right after a burst
	// of SSDP searches (as a client probing all protocols at once sends):
	// the gateway serves both from one thread.
	UDPAfterSSDP rttStats `json:"udp_after_ssdp"`
	Error        string   `json:"error"` // what failed, if anything
}

// rttStats summarises one kind of round trip.
type rttStats struct {
	N      int           `json:"n"`
	Median time.Duration `json:"median"`
	P90    time.Duration `json:"p90"`
	Min    time.Duration `json:"min"`
}

func summarise(ds []time.Duration) rttStats {
	slices.Sort(ds)
	if len(ds) == 0 {
		return rttStats{}
	}
	return rttStats{N: len(ds), Median: quantile(ds, 0.5), P90: quantile(ds, 0.9), Min: ds[0]}
}

// childRTT runs in the LAN namespace and measures bare round trips to the
// gateway from one process, without any client library: the floor under
// every tool's request.
func childRTT(c childConfig) error {
	gw, err := netip.ParseAddr(c.gateway)
	if err != nil {
		return err
	}
	host, err := netip.ParseAddr(c.host)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	var res rttResult
	var errs []error
	if ds, err := udpRTT(ctx, gw, c.n); err != nil {
		errs = append(errs, err)
	} else {
		res.UDP = summarise(ds)
	}
	base := fmt.Sprintf("http://%s:%d", gw, c.httpPort)
	if ds, err := httpRTT(ctx, c.n, func() (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/ctl/IPConn", strings.NewReader(soapGetExternalIP))
		if err == nil {
			req.Header.Set("Content-Type", `text/xml; charset="utf-8"`)
			req.Header.Set("SOAPAction", `"urn:schemas-upnp-org:service:WANIPConnection:2#GetExternalIPAddress"`)
		}
		return req, err
	}); err != nil {
		errs = append(errs, err)
	} else {
		res.SOAP = summarise(ds)
	}
	if ds, err := httpRTT(ctx, c.n, func() (*http.Request, error) {
		return http.NewRequestWithContext(ctx, http.MethodGet, base+"/rootDesc.xml", nil)
	}); err != nil {
		errs = append(errs, err)
	} else {
		res.Desc = summarise(ds)
	}
	if ds, err := ssdpRTT(ctx, gw, min(c.n, 5)); err != nil {
		errs = append(errs, err)
	} else {
		res.SSDP = summarise(ds)
	}
	if add, del, err := addDeleteRTT(ctx, base, host, min(c.n, 10)); err != nil {
		errs = append(errs, err)
	} else {
		res.AddPM, res.DelPM = summarise(add), summarise(del)
	}
	if ds, err := udpAfterSSDP(ctx, gw, min(c.n, 10)); err != nil {
		errs = append(errs, err)
	} else {
		res.UDPAfterSSDP = summarise(ds)
	}
	if err := errors.Join(errs...); err != nil {
		res.Error = err.Error()
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}

// soapGetExternalIP is a constant request: no user text goes into it.
const soapGetExternalIP = `<?xml version="1.0"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body><u:GetExternalIPAddress xmlns:u="urn:schemas-upnp-org:service:WANIPConnection:2"></u:GetExternalIPAddress></s:Body></s:Envelope>
`

// udpRTT sends NAT-PMP external address requests (2 bytes: version 0,
// opcode 0) one at a time and times each reply.
func udpRTT(ctx context.Context, gw netip.Addr, n int) ([]time.Duration, error) {
	conn, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(gw, 5351)))
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	buf := make([]byte, 64)
	var ds []time.Duration
	for i := 0; i < n && ctx.Err() == nil; i++ {
		start := time.Now()
		if _, err := conn.Write([]byte{0, 0}); err != nil {
			return nil, err
		}
		conn.SetReadDeadline(time.Now().Add(time.Second))
		m, err := conn.Read(buf)
		if err != nil {
			return nil, fmt.Errorf("udp round trip: %w", err)
		}
		ds = append(ds, time.Since(start))
		if m < 12 || buf[1] != 128 {
			return nil, fmt.Errorf("udp round trip: unexpected %d-byte reply", m)
		}
	}
	return ds, nil
}

// httpRTT makes n requests, each on a new TCP connection, and times each
// up to the end of the body.
func httpRTT(ctx context.Context, n int, newReq func() (*http.Request, error)) ([]time.Duration, error) {
	hc := &http.Client{
		Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil},
		Timeout:   5 * time.Second,
	}
	var ds []time.Duration
	for i := 0; i < n && ctx.Err() == nil; i++ {
		req, err := newReq()
		if err != nil {
			return nil, err
		}
		start := time.Now()
		resp, err := hc.Do(req)
		if err != nil {
			return nil, fmt.Errorf("http round trip: %w", err)
		}
		_, err = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		ds = append(ds, time.Since(start))
		if err != nil || resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("http round trip %s: %s %v", req.URL.Path, resp.Status, err)
		}
	}
	return ds, nil
}

// ssdpRTT sends a unicast M-SEARCH to the gateway's SSDP port and times the
// first answer (miniupnpd answers a unicast search at once).
func ssdpRTT(ctx context.Context, gw netip.Addr, n int) ([]time.Duration, error) {
	conn, err := net.ListenUDP("udp4", nil)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	dst := net.UDPAddrFromAddrPort(netip.AddrPortFrom(gw, 1900))
	// A unicast search (UDA 1.1 §1.3.2): HOST is the device, no MX.
	msg := []byte("M-SEARCH * HTTP/1.1\r\nHOST: " + dst.String() + "\r\nMAN: \"ssdp:discover\"\r\n" +
		"ST: urn:schemas-upnp-org:device:InternetGatewayDevice:2\r\n\r\n")
	buf := make([]byte, 2048)
	var ds []time.Duration
	for i := 0; i < n && ctx.Err() == nil; i++ {
		start := time.Now()
		if _, err := conn.WriteToUDP(msg, dst); err != nil {
			return nil, err
		}
		conn.SetReadDeadline(time.Now().Add(3 * time.Second))
		for {
			m, _, err := conn.ReadFromUDP(buf)
			if err != nil {
				return nil, fmt.Errorf("ssdp round trip: %w", err)
			}
			if bytes.HasPrefix(buf[:m], []byte("HTTP/1.1 200")) {
				break
			}
		}
		ds = append(ds, time.Since(start))
		// Late duplicate answers of this search must not be taken for
		// the next one's.
		time.Sleep(100 * time.Millisecond)
		drain(conn, buf)
	}
	return ds, nil
}

func drain(conn *net.UDPConn, buf []byte) {
	conn.SetReadDeadline(time.Now().Add(time.Millisecond))
	for {
		if _, _, err := conn.ReadFromUDP(buf); err != nil {
			return
		}
	}
}

// soapAddPortMapping and soapDeletePortMapping take only port numbers and
// the LAN host's address, formatted from integers and a parsed address:
// no user text goes into them.
const (
	soapAddPortMapping = `<?xml version="1.0"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body><u:AddPortMapping xmlns:u="urn:schemas-upnp-org:service:WANIPConnection:2"><NewRemoteHost></NewRemoteHost><NewExternalPort>%d</NewExternalPort><NewProtocol>TCP</NewProtocol><NewInternalPort>%d</NewInternalPort><NewInternalClient>%s</NewInternalClient><NewEnabled>1</NewEnabled><NewPortMappingDescription>bench</NewPortMappingDescription><NewLeaseDuration>3600</NewLeaseDuration></u:AddPortMapping></s:Body></s:Envelope>
`
	soapDeletePortMapping = `<?xml version="1.0"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body><u:DeletePortMapping xmlns:u="urn:schemas-upnp-org:service:WANIPConnection:2"><NewRemoteHost></NewRemoteHost><NewExternalPort>%d</NewExternalPort><NewProtocol>TCP</NewProtocol></u:DeletePortMapping></s:Body></s:Envelope>
`
)

// addDeleteRTT times SOAP AddPortMapping and DeletePortMapping of n
// mappings (ports 38000+i), each call on a new connection.
func addDeleteRTT(ctx context.Context, base string, host netip.Addr, n int) (add, del []time.Duration, err error) {
	soap := func(action, body string) (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/ctl/IPConn", strings.NewReader(body))
		if err == nil {
			req.Header.Set("Content-Type", `text/xml; charset="utf-8"`)
			req.Header.Set("SOAPAction", `"urn:schemas-upnp-org:service:WANIPConnection:2#`+action+`"`)
		}
		return req, err
	}
	for i := range n {
		port := 38000 + i
		a, err := httpRTT(ctx, 1, func() (*http.Request, error) {
			return soap("AddPortMapping", fmt.Sprintf(soapAddPortMapping, port, port, host))
		})
		if err != nil {
			return nil, nil, fmt.Errorf("AddPortMapping: %w", err)
		}
		d, err := httpRTT(ctx, 1, func() (*http.Request, error) {
			return soap("DeletePortMapping", fmt.Sprintf(soapDeletePortMapping, port))
		})
		if err != nil {
			return nil, nil, fmt.Errorf("DeletePortMapping: %w", err)
		}
		add, del = append(add, a...), append(del, d...)
	}
	return add, del, nil
}

// udpAfterSSDP sends the unicast SSDP searches a client probing every
// protocol sends (five search targets) and right after them a NAT-PMP
// address request, and times the NAT-PMP reply.
func udpAfterSSDP(ctx context.Context, gw netip.Addr, n int) ([]time.Duration, error) {
	ssdp, err := net.ListenUDP("udp4", nil)
	if err != nil {
		return nil, err
	}
	defer ssdp.Close()
	conn, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(gw, 5351)))
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	dst := net.UDPAddrFromAddrPort(netip.AddrPortFrom(gw, 1900))
	targets := []string{
		"urn:schemas-upnp-org:device:InternetGatewayDevice:1",
		"urn:schemas-upnp-org:device:InternetGatewayDevice:2",
		"urn:schemas-upnp-org:service:WANIPConnection:1",
		"urn:schemas-upnp-org:service:WANPPPConnection:1",
		"upnp:rootdevice",
	}
	buf := make([]byte, 2048)
	var ds []time.Duration
	for i := 0; i < n && ctx.Err() == nil; i++ {
		for _, st := range targets {
			msg := "M-SEARCH * HTTP/1.1\r\nHOST: " + dst.String() + "\r\nMAN: \"ssdp:discover\"\r\nST: " + st + "\r\n\r\n"
			if _, err := ssdp.WriteToUDP([]byte(msg), dst); err != nil {
				return nil, err
			}
		}
		start := time.Now()
		if _, err := conn.Write([]byte{0, 0}); err != nil {
			return nil, err
		}
		conn.SetReadDeadline(time.Now().Add(3 * time.Second))
		if _, err := conn.Read(buf); err != nil {
			return nil, fmt.Errorf("udp after ssdp: %w", err)
		}
		ds = append(ds, time.Since(start))
		// Let the gateway finish the searches before the next round.
		time.Sleep(300 * time.Millisecond)
		drain(ssdp, buf)
	}
	return ds, nil
}
