package upnp

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"time"
)

// cacheValidateTimeout bounds the SOAP call that validates a cached IGD. A
// gateway that does not answer a LAN HTTP request within this is treated as
// gone, and the search that follows has the rest of the caller's time.
var cacheValidateTimeout = 1500 * time.Millisecond

// errCacheMiss is returned internally when the cache has nothing for the
// gateway.
var errCacheMiss = errors.New("upnp: no cache entry")

// fromCache returns the cached IGD for c.Gateway after checking it like a
// search's result (see igdFromEntry) and validating it with
// GetExternalIPAddress. A refused or failing entry is deleted so that the
// next run does not try it again: after a reboot miniupnpd and many vendor
// firmwares (e.g. TP-Link Archer, Netgear Nighthawk) listen on a new
// random HTTP port, so the old control URL is dead for good.
func (c *discoverConfig) fromCache(ctx context.Context) (*IGD, error) {
	e, ok := c.Cache.Get(c.Gateway)
	if !ok {
		return nil, errCacheMiss
	}
	igd, err := c.igdFromEntry(c.Gateway, e)
	if err == nil {
		igd.ExternalIP, err = validateIGD(ctx, igd)
	}
	if err != nil {
		if derr := c.Cache.Delete(c.Gateway); derr != nil {
			c.log.Debug("upnp: deleting cache entry", "err", derr)
		}
		return nil, err
	}
	return igd, nil
}

// validateIGD makes one cheap SOAP call and returns the external address
// it read, if any. Any well-formed SOAP answer, including a fault or "no
// external address" (WAN link down), proves the control URL is alive; a
// transport error or an HTTP error without a fault (404 after a firmware
// update moved the URL) does not.
func validateIGD(ctx context.Context, igd *IGD) (netip.Addr, error) {
	ctx, cancel := context.WithTimeout(ctx, cacheValidateTimeout)
	defer cancel()
	ip, err := igd.WAN.GetExternalIPAddress(ctx)
	var se *SOAPError
	if err == nil || errors.Is(err, ErrNoExternalAddress) || errors.As(err, &se) {
		return ip, nil
	}
	return netip.Addr{}, fmt.Errorf("upnp: cached control URL %s: %w", igd.WAN.Service.ControlURL.Redacted(), err)
}

// entryFromIGD converts igd for the cache.
func entryFromIGD(igd *IGD) CacheEntry {
	e := CacheEntry{
		Location:        igd.Location.String(),
		Gateway:         igd.Gateway,
		DeviceType:      igd.DeviceType,
		Version:         igd.Version,
		FriendlyName:    igd.FriendlyName,
		Manufacturer:    igd.Manufacturer,
		ModelName:       igd.ModelName,
		UDN:             igd.UDN,
		WAN:             -1,
		Firewall:        -1,
		CommonInterface: -1,
		Saved:           time.Now().UTC(),
	}
	for i, s := range igd.Services {
		e.Services = append(e.Services, CachedService{
			Type:        s.Type,
			ID:          s.ID,
			ControlURL:  urlString(s.ControlURL),
			EventSubURL: urlString(s.EventSubURL),
			SCPDURL:     urlString(s.SCPDURL),
		})
		switch {
		case igd.WAN != nil && s.ControlURL == igd.WAN.Service.ControlURL:
			e.WAN = i
		case igd.Firewall != nil && s.ControlURL == igd.Firewall.Service.ControlURL:
			e.Firewall = i
		case igd.CommonInterface != nil && s.ControlURL == igd.CommonInterface.ControlURL:
			e.CommonInterface = i
		}
	}
	return e
}

// igdFromEntry rebuilds an IGD from the entry stored under key (the
// gateway the caller asked for), applying the same URL checks as a search
// that got a reply from key: the cache file is only as trustworthy as
// whatever wrote it. The entry's own Gateway field is not an origin to
// check against (an edited file could name any host there and point every
// URL at it); it must be key, else the entry is refused.
func (c *discoverConfig) igdFromEntry(key netip.Addr, e CacheEntry) (*IGD, error) {
	// Zones are compared like urlPolicy.check does: a link-local
	// gateway's zone is a property of this host, not of the entry.
	if !e.Gateway.IsValid() || e.Gateway.Unmap().WithZone("") != key.Unmap().WithZone("") {
		return nil, fmt.Errorf("%w: cache entry for gateway %s names gateway %s", ErrUnsafeURL, key, e.Gateway)
	}
	gw := key
	loc, err := url.Parse(e.Location)
	if err != nil {
		return nil, fmt.Errorf("upnp: cache entry: %w", err)
	}
	descHost, err := c.policy.check(loc, gw)
	if err != nil {
		return nil, err
	}
	igd := &IGD{
		Location:     loc,
		Gateway:      gw,
		DeviceType:   e.DeviceType,
		Version:      e.Version,
		FriendlyName: e.FriendlyName,
		Manufacturer: e.Manufacturer,
		ModelName:    e.ModelName,
		UDN:          e.UDN,
		BootID:       -1,
		FromCache:    true,
	}
	for _, cs := range e.Services {
		s := Service{Type: cs.Type, ID: cs.ID}
		for _, f := range [...]struct {
			in  string
			out **url.URL
		}{{cs.ControlURL, &s.ControlURL}, {cs.EventSubURL, &s.EventSubURL}, {cs.SCPDURL, &s.SCPDURL}} {
			if f.in == "" {
				continue
			}
			u, err := url.Parse(f.in)
			if err != nil {
				return nil, fmt.Errorf("upnp: cache entry: %w", err)
			}
			*f.out = u
		}
		if err := c.checkService(s, descHost); err != nil {
			return nil, err
		}
		igd.Services = append(igd.Services, s)
	}
	pick := func(i int) *Service {
		if i < 0 || i >= len(igd.Services) {
			return nil
		}
		s := igd.Services[i]
		return &s
	}
	w := pick(e.WAN)
	if w == nil || !isWANConnection(w.Type) || w.ControlURL == nil {
		return nil, fmt.Errorf("upnp: cache entry: %w", ErrNoWANConnection)
	}
	igd.WAN = NewWANConnection(*w, c.HTTPClient)
	if s := pick(e.Firewall); s != nil && classifyService(s.Type) == kindFirewall {
		igd.Firewall = NewFirewallControl(*s, c.HTTPClient)
	}
	if s := pick(e.CommonInterface); s != nil && classifyService(s.Type) == kindCommonInterface {
		igd.CommonInterface = s
	}
	if igd.Version < 1 || igd.Version > 2 {
		igd.Version = 1
	}
	return igd, nil
}

func urlString(u *url.URL) string {
	if u == nil {
		return ""
	}
	return u.String()
}
