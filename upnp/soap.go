package upnp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Reply size limits. Every read from the network is bounded.
const (
	maxSOAPReply    = 64 << 10 // ordinary actions
	maxListingReply = 1 << 20  // GetListOfPortMappings
)

// soapClient sends SOAP actions to one service's control URL.
type soapClient struct {
	hc          *http.Client
	controlURL  *url.URL
	serviceType string
}

// newSOAPClient returns a client for svc's control URL. A caller's hc is
// wrapped by gatewayClient: a control URL never legitimately redirects,
// and following one would post the SOAP body (the caller's mapping data)
// to wherever the device points.
func newSOAPClient(svc Service, hc *http.Client) soapClient {
	return soapClient{hc: gatewayClient(hc), controlURL: svc.ControlURL, serviceType: svc.Type}
}

// call posts action with args (in spec order) and returns the decoded reply.
// A UPnP fault is returned as *SOAPError; a non-200 reply without a fault as
// *HTTPError; a redirect (not followed) as an *HTTPError that also matches
// ErrUnsafeURL. limit bounds the reply body size.
func (c soapClient) call(ctx context.Context, action string, args []soapArg, limit int64) (soapReply, error) {
	if c.controlURL == nil {
		return soapReply{}, fmt.Errorf("upnp: %s: service %q has no control URL", action, c.serviceType)
	}
	payload, err := buildEnvelope(c.serviceType, action, args)
	if err != nil {
		return soapReply{}, fmt.Errorf("upnp: %s: encoding request: %w", action, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.controlURL.String(), bytes.NewReader(payload))
	if err != nil {
		return soapReply{}, fmt.Errorf("upnp: %s: %w", action, err)
	}
	req.Header.Set("Content-Type", `text/xml; charset="utf-8"`)
	// The SOAPAction value must be quoted (UDA 1.0 §3.2.1); several
	// routers (e.g. old Netgear and D-Link firmwares) reject it unquoted.
	req.Header.Set("SOAPAction", strconv.Quote(c.serviceType+"#"+action))
	req.Header.Set("User-Agent", "portmap UPnP/1.1")
	resp, err := c.hc.Do(req)
	if err != nil {
		return soapReply{}, fmt.Errorf("upnp: %s: %w", action, err)
	}
	defer resp.Body.Close()
	if isRedirect(resp.StatusCode) {
		return soapReply{}, &HTTPError{StatusCode: resp.StatusCode, Action: action, Location: redactedLocation(resp)}
	}
	// Chunked replies and "Connection: close" replies without a length are
	// both handled by net/http; we only bound what we read.
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return soapReply{}, fmt.Errorf("upnp: %s: reading reply: %w", action, err)
	}
	if int64(len(body)) > limit {
		return soapReply{}, fmt.Errorf("%w: %s: more than %d bytes", ErrResponseTooLarge, action, limit)
	}
	reply, perr := parseSOAPReply(body, action)
	var se *SOAPError
	if errors.As(perr, &se) {
		// A fault is a fault whatever the status (some routers, e.g.
		// certain Huawei HG firmwares, send faults with 200 OK).
		return soapReply{}, se
	}
	if resp.StatusCode != http.StatusOK {
		return soapReply{}, &HTTPError{StatusCode: resp.StatusCode, Action: action}
	}
	if perr != nil {
		return soapReply{}, perr
	}
	return reply, nil
}

// require returns the named output argument, trimmed, or an error
// wrapping ErrMalformedResponse when the reply lacks it.
func (r soapReply) require(name string) (string, error) {
	v, ok := r.get(name)
	if !ok {
		return "", fmt.Errorf("%w: %s: missing %s", ErrMalformedResponse, r.Action, name)
	}
	return strings.TrimSpace(v), nil
}
