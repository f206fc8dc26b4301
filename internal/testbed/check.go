//go:build linux

package testbed

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// checkTimeout bounds one end-to-end check.
const checkTimeout = 8 * time.Second

// VerifyTCP proves a mapping end to end: it listens on Host:lanPort (the
// calling process must be in the LAN namespace, as e2e tests are), connects
// from the internet host to WAN:extPort, and checks that a random token
// crosses in both directions and that the connection arrived from the
// internet host.
func (tb *Testbed) VerifyTCP(ctx context.Context, extPort, lanPort uint16) error {
	return tb.checkTCP(ctx, netip.AddrPortFrom(tb.Host, lanPort), netip.AddrPortFrom(tb.WAN, extPort), tb.Internet)
}

// VerifyTCP6 proves an IPv6 pinhole: the internet host connects straight to
// [Host6]:lanPort through the gateway's firewall.
func (tb *Testbed) VerifyTCP6(ctx context.Context, lanPort uint16) error {
	dst := netip.AddrPortFrom(tb.Host6, lanPort)
	return tb.checkTCP(ctx, dst, dst, tb.Internet6)
}

func (tb *Testbed) checkTCP(ctx context.Context, listen, dial netip.AddrPort, from netip.Addr) error {
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", listen.String())
	if err != nil {
		return fmt.Errorf("testbed: listen on the LAN host: %w", err)
	}
	defer ln.Close()
	token := newToken()
	accepted := make(chan error, 1)
	go func() {
		accepted <- serveToken(ln, token, from)
	}()
	out, dialErr := output(tb.InternetCmd(ctx, "bash", "-c", dialScript("tcp", dial), "check", token))
	ln.Close()
	acceptErr := <-accepted
	if dialErr != nil {
		if acceptErr != nil && !errors.Is(acceptErr, net.ErrClosed) {
			return fmt.Errorf("testbed: %s -> %s: %v (listener: %v)", from, dial, dialErr, acceptErr)
		}
		return fmt.Errorf("testbed: %s -> %s: no connection through the gateway: %v", from, dial, dialErr)
	}
	if acceptErr != nil {
		return fmt.Errorf("testbed: %s -> %s: %w", from, dial, acceptErr)
	}
	if strings.TrimSpace(out) != "ok "+token {
		return fmt.Errorf("testbed: %s -> %s: internet host read %q, want %q", from, dial, out, "ok "+token)
	}
	return nil
}

// serveToken accepts one connection, checks where it came from and that it
// carries the token, and answers "ok <token>".
func serveToken(ln net.Listener, token string, from netip.Addr) error {
	c, err := ln.Accept()
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(checkTimeout))
	if src := c.RemoteAddr().(*net.TCPAddr).AddrPort().Addr().Unmap(); src != from {
		return fmt.Errorf("connection came from %s, not from the internet host %s", src, from)
	}
	buf := make([]byte, len(token)+1)
	if _, err := io.ReadFull(c, buf); err != nil {
		return fmt.Errorf("reading the token: %w", err)
	}
	if got := string(bytes.TrimSpace(buf)); got != token {
		return fmt.Errorf("LAN host read %q, want %q", got, token)
	}
	_, err = io.WriteString(c, "ok "+token+"\n")
	return err
}

// VerifyUDP proves a UDP mapping end to end: the internet host sends a
// token to WAN:extPort, the LAN host receives it on Host:lanPort and
// answers, and the answer must come back.
func (tb *Testbed) VerifyUDP(ctx context.Context, extPort, lanPort uint16) error {
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	pc, err := (&net.ListenConfig{}).ListenPacket(ctx, "udp4", netip.AddrPortFrom(tb.Host, lanPort).String())
	if err != nil {
		return fmt.Errorf("testbed: listen on the LAN host: %w", err)
	}
	defer pc.Close()
	token := newToken()
	got := make(chan error, 1)
	go func() {
		buf := make([]byte, 256)
		pc.SetDeadline(time.Now().Add(checkTimeout))
		n, src, err := pc.ReadFrom(buf)
		if err != nil {
			got <- err
			return
		}
		if s := strings.TrimSpace(string(buf[:n])); s != token {
			got <- fmt.Errorf("LAN host read %q, want %q", s, token)
			return
		}
		_, err = pc.WriteTo([]byte("ok "+token+"\n"), src)
		got <- err
	}()
	dial := netip.AddrPortFrom(tb.WAN, extPort)
	out, dialErr := output(tb.InternetCmd(ctx, "bash", "-c", dialScript("udp", dial), "check", token))
	pc.Close()
	recvErr := <-got
	if recvErr != nil && !errors.Is(recvErr, net.ErrClosed) {
		return fmt.Errorf("testbed: udp %s -> %s: %w", tb.Internet, dial, recvErr)
	}
	if dialErr != nil || strings.TrimSpace(out) != "ok "+token {
		return fmt.Errorf("testbed: udp %s -> %s: no answer through the gateway (%v, read %q)", tb.Internet, dial, dialErr, out)
	}
	return nil
}

// dialScript is a bash script for the internet host: it opens a socket to
// dst with bash's /dev/tcp or /dev/udp, sends its first argument, and
// prints the first line of the answer. Bash is on every Debian machine, so
// the internet host needs no other tool.
func dialScript(transport string, dst netip.AddrPort) string {
	host := dst.Addr().String()
	// head reads a whole datagram at once; bash's read builtin reads a
	// byte at a time, which on a UDP socket keeps one byte of each datagram.
	return fmt.Sprintf(`exec 3<>/dev/%s/%s/%s || exit 3
printf '%%s\n' "$1" >&3
timeout %d head -n 1 <&3`, transport, host, strconv.Itoa(int(dst.Port())), int(checkTimeout/time.Second)-1)
}

func newToken() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func stringReader(s string) io.Reader { return strings.NewReader(s) }
