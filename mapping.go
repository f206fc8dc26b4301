package portmap

import (
	"net/netip"
	"time"
)

// DefaultLifetime is the lifetime asked for when a [Request] names none:
// seven days, the longest an IGDv2 lease can be.
const DefaultLifetime = 7 * 24 * time.Hour

// Request asks for a mapping. The zero values pick sensible defaults: TCP,
// this host's address toward the gateway, the internal port as external
// port if it is free and any free one otherwise, and [DefaultLifetime].
type Request struct {
	// Transport is TCP (default) or UDP.
	Transport Transport
	// InternalPort is the port on the LAN host that should be reached. Required.
	InternalPort uint16
	// InternalIP is the LAN host to reach. The zero value means this host;
	// another address must be asked for on purpose.
	InternalIP netip.Addr
	// ExternalPort is the port wanted on the gateway's external address.
	// Zero asks for InternalPort if free, else any.
	ExternalPort uint16
	// ExactPort fails the request with the gateway's conflict error instead
	// of accepting another external port when ExternalPort is taken.
	ExactPort bool
	// Lifetime is the lease asked for; zero means DefaultLifetime. The
	// gateway may grant less (see Mapping.Lifetime).
	Lifetime time.Duration
	// Description is shown in the router's port-mapping table (UPnP only).
	Description string
}

// Mapping is a port mapping the gateway granted.
type Mapping struct {
	// Protocol is the protocol that made the mapping.
	Protocol Protocol `json:"protocol"`
	// Gateway is the gateway that holds it.
	Gateway netip.Addr `json:"gateway"`
	// Transport is TCP or UDP.
	Transport Transport `json:"transport"`
	// External is the gateway's external address and the mapped port.
	External netip.AddrPort `json:"external"`
	// Internal is the LAN host and port that traffic is forwarded to.
	Internal netip.AddrPort `json:"internal"`
	// Lifetime is the lease the gateway granted; zero means permanent.
	Lifetime time.Duration `json:"lifetime"`
	// Expires is when the lease ends (zero for permanent mappings).
	Expires time.Time `json:"expires,omitzero"`
	// Description is the mapping's description (UPnP only).
	Description string `json:"description,omitempty"`
	// Nonce is the PCP nonce that owns the mapping; PCP renews and deletes
	// only with it.
	Nonce []byte `json:"nonce,omitempty"`
	// Permanent is true when the gateway refused the finite lease asked
	// for (UPnP error 725, or 402 on some firmwares) and the mapping was
	// made with lease 0: its owner must delete it. Lifetime is then 0 (it
	// never expires) or, on IGDv2, which reads lease 0 as one week, a week.
	Permanent bool `json:"permanent,omitempty"`
}
