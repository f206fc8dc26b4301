package portmap

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/portmap-dev/portmap/pcp"
)

// pcpFallback is the part of a PCP backend that switches it to NAT-PMP
// when the gateway stops speaking PCP.
//
// RFC 6887 §9: a server that answers UNSUPP_VERSION with version 0 speaks
// only NAT-PMP, and the client is to use NAT-PMP with it at once. Discover
// probes both protocols in parallel, so a gateway that is NAT-PMP-only
// from the start never gets a PCP backend; this covers a gateway that
// answered PCP at discovery and later refuses it (a firmware update or a
// setting that turned PCP off, a router swapped behind the same address).
// The switch lasts for the Client's life; nothing outside it is
// remembered, so the next Discover (and the keeper's rediscoveries) tries
// PCP first again.
type pcpFallback struct {
	// newNATPMP opens the NAT-PMP backend for the same gateway.
	newNATPMP func() (*natpmpBackend, error)
	log       *slog.Logger

	mu       sync.Mutex // serialises the switch and close
	closed   bool
	nb       atomic.Pointer[natpmpBackend]
	switched chan struct{} // closed when nb is set
}

// init prepares f, before the backend is used.
func (f *pcpFallback) init(newNATPMP func() (*natpmpBackend, error), log *slog.Logger) {
	f.newNATPMP, f.log, f.switched = newNATPMP, log, make(chan struct{})
}

// natpmpOnly reports whether err says the gateway speaks only NAT-PMP.
func natpmpOnly(err error) bool {
	var ve *pcp.VersionError
	return errors.As(err, &ve) && ve.ServerVersion == 0
}

// natpmp returns the NAT-PMP backend switched to, or nil while PCP is used.
func (f *pcpFallback) natpmp() *natpmpBackend { return f.nb.Load() }

// switchToNATPMP opens the NAT-PMP backend (once) after pcpErr.
func (f *pcpFallback) switchToNATPMP(pcpErr error) (*natpmpBackend, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if nb := f.nb.Load(); nb != nil {
		return nb, nil
	}
	if f.closed {
		return nil, pcpErr // the Client was closed meanwhile
	}
	nb, err := f.newNATPMP()
	if err != nil {
		return nil, fmt.Errorf("%w; and NAT-PMP could not be opened: %w", pcpErr, err)
	}
	f.log.Info("gateway answered PCP as a NAT-PMP-only router: switching to NAT-PMP", "err", pcpErr)
	f.nb.Store(nb)
	close(f.switched)
	return nb, nil
}

// close closes the NAT-PMP backend, if one was opened.
func (f *pcpFallback) close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	if nb := f.nb.Load(); nb != nil {
		return nb.close()
	}
	return nil
}

// withFallback runs viaPCP, or viaNATPMP once the backend has switched. A
// PCP call that gets UNSUPP_VERSION with version 0 switches the backend
// and is made again over NAT-PMP.
func withFallback[T any](f *pcpFallback, viaPCP func() (T, error), viaNATPMP func(*natpmpBackend) (T, error)) (T, error) {
	if nb := f.natpmp(); nb != nil {
		return viaNATPMP(nb)
	}
	v, err := viaPCP()
	if err == nil || !natpmpOnly(err) {
		return v, err
	}
	nb, ferr := f.switchToNATPMP(err)
	if ferr != nil {
		var zero T
		return zero, ferr
	}
	return viaNATPMP(nb)
}
