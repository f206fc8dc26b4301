package upnp

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// AddOptions tunes AddPortMappingWithFallbacks.
type AddOptions struct {
	// AnyPortOnConflict lets the gateway choose another external port when
	// the requested one is mapped to another client (718): the mapping is
	// retried with AddAnyPortMapping on IGDv2. When false, or on IGDv1,
	// the 718 error is returned.
	AnyPortOnConflict bool
}

// AddResult is what AddPortMappingWithFallbacks actually did.
type AddResult struct {
	// ExternalPort is the external port mapped (differs from the request
	// after AddAnyPortMapping).
	ExternalPort uint16
	// LeaseDuration is the lease that was granted by the request: clamped
	// to MaxLeaseV2 on IGDv2; when Permanent, 0 on IGDv1 and MaxLeaseV2 on
	// IGDv2 (which reads a lease of 0 as one week).
	LeaseDuration time.Duration
	// Permanent is true when the router refused a finite lease and the
	// mapping was made with lease 0: it may never expire, so the caller
	// must delete it when done (and, on IGDv2, renew it within the week).
	Permanent bool
	// UsedAddAny is true when AddAnyPortMapping chose the port after 718.
	UsedAddAny bool
	// LeaseClamped is true when the requested lease exceeded MaxLeaseV2.
	LeaseClamped bool
}

// AddPortMappingWithFallbacks adds pm working around common router quirks:
//
//   - IGDv2 allows at most one week: a longer lease is clamped to MaxLeaseV2.
//   - 725 OnlyPermanentLeasesSupported, and 402 InvalidArgs for a finite
//     lease (some Netgear and TP-Link IGDv1 firmwares), are retried once with
//     lease 0; Permanent is then set so the caller deletes it on exit.
//   - 718 ConflictInMappingEntry is retried with AddAnyPortMapping when
//     opts.AnyPortOnConflict is set and the service is IGDv2; otherwise
//     the error (errors.Is(err, ErrConflictInMappingEntry)) is returned
//     with a hint.
func (c *WANConnection) AddPortMappingWithFallbacks(ctx context.Context, pm PortMapping, opts AddOptions) (AddResult, error) {
	var res AddResult
	if c.Version >= 2 && pm.LeaseDuration > MaxLeaseV2 {
		pm.LeaseDuration = MaxLeaseV2
		res.LeaseClamped = true
	}
	useAny := false
	for attempt := 0; attempt < 4; attempt++ {
		var err error
		port := pm.ExternalPort
		if useAny {
			port, err = c.AddAnyPortMapping(ctx, pm)
		} else {
			err = c.AddPortMapping(ctx, pm)
		}
		if err == nil {
			res.ExternalPort = port
			res.LeaseDuration = pm.LeaseDuration
			if res.Permanent && c.Version >= 2 {
				// WANIPConnection:2 turns a lease of 0 into 604800 s: a
				// keeper that took it for permanent would let it lapse.
				res.LeaseDuration = MaxLeaseV2
			}
			res.UsedAddAny = useAny
			return res, nil
		}
		switch {
		case pm.LeaseDuration != 0 && (errors.Is(err, ErrOnlyPermanentLeasesSupported) || errors.Is(err, ErrInvalidArgs)):
			pm.LeaseDuration = 0
			res.Permanent = true
		case !useAny && errors.Is(err, ErrConflictInMappingEntry) && opts.AnyPortOnConflict && c.Version >= 2:
			useAny = true
		case errors.Is(err, ErrConflictInMappingEntry):
			return res, fmt.Errorf("%w (external port %d/%s is mapped to another client)", err, pm.ExternalPort, pm.Protocol)
		default:
			return res, err
		}
	}
	return res, errors.New("upnp: AddPortMapping: gave up after retries")
}
