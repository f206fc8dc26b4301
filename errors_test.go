package portmap

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/portmap-dev/portmap/natpmp"
)

// The line a user reads names each protocol once, keeps what each said, and
// the protocols' own errors stay inspectable.
func TestNoGatewayErrorMessage(t *testing.T) {
	upnpErr := errors.New("no Internet Gateway Device found")
	e := &NoGatewayError{
		Gateway: netip.MustParseAddr("192.0.2.1"),
		Tried: map[Protocol]error{
			NATPMP: natpmp.ErrTimeout,
			PCP:    errors.New("pcp: no response from server after 2 transmissions"),
			UPnP:   upnpErr,
		},
		Elapsed: 2001 * time.Millisecond,
	}
	want := "portmap: no gateway answered at 192.0.2.1 (" +
		"natpmp: no reply from gateway; " +
		"pcp: no response from server after 2 transmissions; " +
		"upnp: no Internet Gateway Device found) after 2.001s"
	if got := e.Error(); got != want {
		t.Errorf("Error() =\n %q\nwant\n %q", got, want)
	}
	if !errors.Is(e, ErrNoGateway) || !errors.Is(e, upnpErr) || !errors.Is(e, natpmp.ErrTimeout) {
		t.Error("errors.Is does not see ErrNoGateway and the protocols' errors")
	}
}
