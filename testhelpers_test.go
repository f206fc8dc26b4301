package portmap

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/portmap-dev/portmap/portmaptest"
)

// fakeGateway starts a portmaptest gateway and returns options aimed at it.
func fakeGateway(t *testing.T, opts ...portmaptest.Option) (*portmaptest.Gateway, Options) {
	t.Helper()
	gw := portmaptest.NewGateway(t, opts...)
	return gw, Options{Gateway: gw.Addr().Addr(), GatewayPort: gw.Addr().Port()}
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func discover(t *testing.T, o Options) *Client {
	t.Helper()
	c, err := Discover(testContext(t), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

var loopback = netip.MustParseAddr("127.0.0.1")
