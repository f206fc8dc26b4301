package upnp

import (
	"net/netip"
	"sync"
	"time"
)

// Cache remembers, per gateway, where its IGD's services are, so that a
// later Discover can skip the SSDP search and the description fetch. A
// cached entry is validated with one cheap SOAP call before use and
// dropped when that fails (the gateway rebooted onto another HTTP port,
// was replaced, ...). Implementations must be safe for concurrent use.
type Cache interface {
	// Get returns the entry for gateway, if any.
	Get(gateway netip.Addr) (CacheEntry, bool)
	// Put stores e for gateway, replacing any previous entry.
	Put(gateway netip.Addr, e CacheEntry) error
	// Delete removes the entry for gateway; deleting nothing is not an error.
	Delete(gateway netip.Addr) error
}

// CacheEntry is what a Cache stores about one IGD: enough to rebuild an
// *IGD without network traffic.
type CacheEntry struct {
	// Location is the description URL.
	Location string `json:"location"`
	// Gateway is the address that answered the search.
	Gateway netip.Addr `json:"gateway"`
	// DeviceType, Version, FriendlyName, Manufacturer, ModelName and UDN
	// are copied from the IGD.
	DeviceType   string `json:"device_type"`
	Version      int    `json:"version"`
	FriendlyName string `json:"friendly_name,omitempty"`
	Manufacturer string `json:"manufacturer,omitempty"`
	ModelName    string `json:"model_name,omitempty"`
	UDN          string `json:"udn,omitempty"`
	// WAN is the index in Services of the chosen WAN connection service.
	WAN int `json:"wan"`
	// Firewall and CommonInterface are indexes in Services, -1 for none.
	Firewall        int `json:"firewall"`
	CommonInterface int `json:"common_interface"`
	// Services are all services of the IGD.
	Services []CachedService `json:"services"`
	// Saved is when the entry was stored.
	Saved time.Time `json:"saved"`
}

// CachedService is a Service with its URLs as strings.
type CachedService struct {
	Type        string `json:"type"`
	ID          string `json:"id,omitempty"`
	ControlURL  string `json:"control_url,omitempty"`
	EventSubURL string `json:"event_sub_url,omitempty"`
	SCPDURL     string `json:"scpd_url,omitempty"`
}

// MemoryCache is an in-memory Cache, the one a long-running program uses.
type MemoryCache struct {
	mu sync.Mutex
	m  map[netip.Addr]CacheEntry
}

// NewMemoryCache returns an empty MemoryCache.
func NewMemoryCache() *MemoryCache {
	return &MemoryCache{m: make(map[netip.Addr]CacheEntry)}
}

// Get returns the entry for gateway.
func (c *MemoryCache) Get(gateway netip.Addr) (CacheEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[gateway.Unmap()]
	return cloneEntry(e), ok
}

// Put stores e for gateway.
func (c *MemoryCache) Put(gateway netip.Addr, e CacheEntry) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := gateway.Unmap()
	if _, ok := c.m[k]; !ok && len(c.m) >= maxCacheEntries {
		evictOldest(c.m)
	}
	c.m[k] = cloneEntry(e)
	return nil
}

// Delete removes the entry for gateway.
func (c *MemoryCache) Delete(gateway netip.Addr) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, gateway.Unmap())
	return nil
}

// maxCacheEntries bounds a cache: a host sees one or two gateways, a
// laptop a few more over time.
const maxCacheEntries = 32

func evictOldest(m map[netip.Addr]CacheEntry) {
	var oldest netip.Addr
	var t time.Time
	for k, e := range m {
		if !oldest.IsValid() || e.Saved.Before(t) {
			oldest, t = k, e.Saved
		}
	}
	delete(m, oldest)
}

func cloneEntry(e CacheEntry) CacheEntry {
	if e.Services != nil {
		e.Services = append([]CachedService(nil), e.Services...)
	}
	return e
}
