package upnp

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// GENA (UDA 1.1 section 4) limits.
const (
	// maxEventBody bounds a NOTIFY body. miniupnpd 2.3.1 sends 445 bytes
	// for WANIPConnection; LastChange-style services send a few KiB.
	maxEventBody = 64 << 10
	// maxEventProperties bounds the variables of one event.
	maxEventProperties = 256
	// maxEventDepth bounds element nesting in a property set.
	maxEventDepth = 16
	// defaultSubscriptionTimeout is requested when none is given; it is
	// the UDA's recommended 1800 s.
	defaultSubscriptionTimeout = 30 * time.Minute
)

var (
	// ErrSubscriptionGone is matched by the error of a renewal the device
	// refused with 412 Precondition Failed: it no longer knows the SID,
	// typically because it rebooted or the subscription expired.
	ErrSubscriptionGone = errors.New("upnp: GENA subscription unknown to the device")
	// ErrMalformedEvent is wrapped when a NOTIFY body or a SUBSCRIBE reply
	// cannot be parsed.
	ErrMalformedEvent = errors.New("upnp: malformed GENA message")
	// ErrSubscriptionClosed is returned by methods of a closed Subscription.
	ErrSubscriptionClosed = errors.New("upnp: subscription closed")
)

// Property is one evented state variable and its new value.
type Property struct {
	// Name is the state variable, e.g. "ExternalIPAddress".
	Name string
	// Value is its value as text (surrounding space trimmed).
	Value string
}

// Event is one GENA NOTIFY delivered to a subscription.
type Event struct {
	// SID is the subscription identifier the device sent.
	SID string
	// Seq is the event key: 0 for the initial event sent right after
	// subscribing (it carries every evented variable), then increasing.
	// A gap means events were lost.
	Seq uint32
	// Properties are the variables in document order. miniupnpd 2.3.1
	// sends all of WANIPConnection's evented variables every time
	// (PossibleConnectionTypes, ConnectionStatus, ExternalIPAddress,
	// PortMappingNumberOfEntries, SystemUpdateID).
	Properties []Property
}

// Value returns the value of the named variable, if present.
func (e *Event) Value(name string) (string, bool) {
	for _, p := range e.Properties {
		if p.Name == name {
			return p.Value, true
		}
	}
	return "", false
}

// ParsePropertySet parses a NOTIFY body, an <e:propertyset> of
// <e:property> elements each holding one variable element. Element names
// match without regard to namespace. At most 64 KiB, 256 variables and
// 16 levels of nesting are accepted; text inside nested elements of a
// variable is concatenated.
func ParsePropertySet(b []byte) ([]Property, error) {
	if len(b) > maxEventBody {
		return nil, fmt.Errorf("%w: body of %d bytes, limit %d", ErrMalformedEvent, len(b), maxEventBody)
	}
	dec := xml.NewDecoder(bytes.NewReader(b))
	dec.Strict = false
	dec.Entity = xml.HTMLEntity
	dec.CharsetReader = charsetReader
	var (
		props  []Property
		depth  int
		inSet  bool
		inProp bool
		sawSet bool
		cur    *Property
		val    strings.Builder
	)
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMalformedEvent, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			if depth > maxEventDepth {
				return nil, fmt.Errorf("%w: nested deeper than %d", ErrMalformedEvent, maxEventDepth)
			}
			switch {
			case depth == 1:
				if !strings.EqualFold(t.Name.Local, "propertyset") {
					return nil, fmt.Errorf("%w: root element %q is not propertyset", ErrMalformedEvent, t.Name.Local)
				}
				inSet, sawSet = true, true
			case depth == 2 && inSet:
				inProp = strings.EqualFold(t.Name.Local, "property")
			case depth == 3 && inProp:
				if len(props) >= maxEventProperties {
					return nil, fmt.Errorf("%w: more than %d properties", ErrMalformedEvent, maxEventProperties)
				}
				cur = &Property{Name: t.Name.Local}
				val.Reset()
			}
		case xml.CharData:
			if cur != nil && val.Len()+len(t) <= maxEventBody {
				val.Write(t)
			}
		case xml.EndElement:
			if depth == 3 && cur != nil {
				cur.Value = strings.TrimSpace(val.String())
				props = append(props, *cur)
				cur = nil
			}
			switch depth {
			case 1:
				inSet = false
			case 2:
				inProp = false
			}
			depth--
		}
	}
	if !sawSet {
		return nil, fmt.Errorf("%w: no propertyset", ErrMalformedEvent)
	}
	return props, nil
}

// parseTimeout parses a GENA TIMEOUT header ("Second-1800"). It returns
// false for "Second-infinite" (deprecated by UDA 1.1) and anything
// unparsable.
func parseTimeout(v string) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if len(v) < 8 || !strings.EqualFold(v[:7], "Second-") {
		return 0, false
	}
	n, err := strconv.ParseUint(v[7:], 10, 32)
	if err != nil || n == 0 {
		return 0, false
	}
	return time.Duration(n) * time.Second, true
}

// formatTimeout formats d as a TIMEOUT header value, at least one second.
func formatTimeout(d time.Duration) string {
	return "Second-" + strconv.FormatInt(max(int64(d/time.Second), 1), 10)
}
