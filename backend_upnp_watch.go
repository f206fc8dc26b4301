package portmap

import (
	"context"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/portmap-dev/portmap/upnp"
)

// watch listens to the gateway two ways at once: SSDP NOTIFY (a new
// BOOTID.UPNP.ORG means a reboot) and GENA events of the WAN connection
// (a new ExternalIPAddress, or ConnectionStatus coming back to
// Connected). Test gateways on their own port get GENA only: NOTIFY would
// need multicast.
func (b *upnpBackend) watch(ctx context.Context, fn func(gatewaySignal)) {
	var wg sync.WaitGroup
	wg.Go(func() { b.watchEvents(ctx, fn) })
	if !b.testGW {
		b.watchNotify(ctx, fn)
	}
	wg.Wait()
}

// watchNotify reports a reboot when the IGD's NOTIFY carries a new
// BOOTID.UPNP.ORG (UDA 1.1).
func (b *upnpBackend) watchNotify(ctx context.Context, fn func(gatewaySignal)) {
	l, err := upnp.ListenNotify(upnp.NotifyOptions{Source: b.gw, Interface: b.iface, Logger: b.logger})
	if err != nil {
		b.logger.Debug("upnp: not listening for NOTIFY", "err", err)
		return
	}
	defer l.Close()
	uuid := strings.TrimPrefix(b.igd.UDN, "uuid:")
	for {
		select {
		case <-ctx.Done():
			return
		case n, ok := <-l.Notifications():
			if !ok {
				return
			}
			if n.UUID() != uuid || n.BootID < 0 || n.NTS != upnp.NTSAlive {
				continue
			}
			b.mu.Lock()
			prev := b.bootID
			b.bootID = n.BootID
			b.mu.Unlock()
			if prev >= 0 && n.BootID != prev {
				fn(gatewaySignal{reboot: true, bootedAt: time.Now()})
			}
		}
	}
}

// subscribeTimeout bounds the GENA SUBSCRIBE request.
const subscribeTimeout = 5 * time.Second

// watchEvents subscribes to the WAN connection's GENA events: a new
// external address makes the keeper renew every mapping (and report the
// new address), and so does a link that comes back up (an ISP
// reconnection may have dropped the mappings with the old session).
// Devices without eventing, or that refuse the subscription, are only
// watched by the other signals.
func (b *upnpBackend) watchEvents(ctx context.Context, fn func(gatewaySignal)) {
	if b.igd.WAN.Service.EventSubURL == nil {
		return
	}
	sctx, cancel := context.WithTimeout(ctx, subscribeTimeout)
	sub, err := upnp.Subscribe(sctx, b.igd.WAN.Service, upnp.SubscribeOptions{Logger: b.logger})
	cancel()
	if err != nil {
		b.logger.Debug("upnp: no GENA subscription", "err", err)
		return
	}
	defer sub.Close()
	status := ""
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-sub.Events():
			if !ok {
				return
			}
			if v, ok := ev.Value("ExternalIPAddress"); ok {
				if a, err := netip.ParseAddr(v); err == nil && !a.IsUnspecified() {
					a = a.Unmap()
					b.mu.Lock()
					prev := b.external
					b.external = a
					b.mu.Unlock()
					if prev.IsValid() && prev != a {
						fn(gatewaySignal{addressChanged: true, external: a})
					}
				}
			}
			if v, ok := ev.Value("ConnectionStatus"); ok {
				if status != "" && status != "Connected" && v == "Connected" {
					fn(gatewaySignal{addressChanged: true})
				}
				status = v
			}
		}
	}
}
