package upnp

import (
	"errors"
	"io"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
)

// ServeHTTP handles the device's NOTIFY requests (UDA 1.1 section 4.3):
// it checks the sender, NT, NTS and SID headers, parses the bounded
// property set and delivers an Event. Replies follow the UDA: 400 for a
// missing header or bad body, 412 for wrong NT/NTS or an unknown SID.
func (s *Subscription) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != "NOTIFY" {
		w.Header().Set("Allow", "NOTIFY")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	// Any LAN host can send a NOTIFY to our callback; only the device
	// that holds the subscription may, or a neighbour could fake an
	// ExternalIPAddress or ConnectionStatus change.
	if s.sender.IsValid() {
		ra, err := netip.ParseAddrPort(r.RemoteAddr)
		if err != nil || ra.Addr().Unmap().WithZone("") != s.sender {
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
	}
	nt, nts, sid := r.Header.Get("NT"), r.Header.Get("NTS"), strings.TrimSpace(r.Header.Get("SID"))
	if nt == "" || nts == "" {
		http.Error(w, "missing NT or NTS", http.StatusBadRequest)
		return
	}
	if !strings.EqualFold(strings.TrimSpace(nt), "upnp:event") || !strings.EqualFold(strings.TrimSpace(nts), "upnp:propchange") || sid == "" {
		http.Error(w, "precondition failed", http.StatusPreconditionFailed)
		return
	}
	seq, err := strconv.ParseUint(strings.TrimSpace(r.Header.Get("SEQ")), 10, 32)
	if err != nil {
		http.Error(w, "bad SEQ", http.StatusBadRequest)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxEventBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	props, err := ParsePropertySet(body)
	if err != nil {
		s.log.Debug("upnp: bad NOTIFY body", "err", err)
		http.Error(w, "bad property set", http.StatusBadRequest)
		return
	}
	if !s.deliver(Event{SID: sid, Seq: uint32(seq), Properties: props}) {
		http.Error(w, "unknown SID", http.StatusPreconditionFailed)
		return
	}
	w.WriteHeader(http.StatusOK)
}
