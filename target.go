package portmap

import (
	"context"
	"fmt"

	"github.com/portmap-dev/portmap/internal/netinfo"
)

// resolveTarget finds the gateway and this host's address toward it.
func resolveTarget(_ context.Context, o *Options) (*target, error) {
	t := &target{gateway: o.Gateway.Unmap(), port: o.GatewayPort, local: o.LocalAddr, opts: o}
	if !t.gateway.IsValid() {
		var err error
		if o.Interface != "" {
			var g netinfo.Gateway
			g, err = netinfo.InterfaceGateway(o.Interface)
			t.gateway = g.Addr
		} else {
			t.gateway, err = netinfo.DefaultGateway()
		}
		if err != nil {
			return nil, &NoGatewayError{Tried: map[Protocol]error{}, Err: fmt.Errorf("finding the default gateway: %w", err)}
		}
	}
	if !t.local.IsValid() {
		local, err := netinfo.LocalAddr(t.gateway)
		if err != nil {
			return nil, fmt.Errorf("portmap: no local address toward gateway %s: %w", t.gateway, err)
		}
		t.local = local
	}
	return t, nil
}

// serverPort is the port of a protocol's server on the target: the test
// gateway's single port, or the standard one.
func (t *target) serverPort(standard uint16) uint16 {
	if t.port != 0 {
		return t.port
	}
	return standard
}
