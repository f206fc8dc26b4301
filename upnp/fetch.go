package upnp

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

// StatusError is a non-200 HTTP reply to a description fetch or a GENA
// request.
type StatusError struct {
	// Method is the HTTP method: "GET", "SUBSCRIBE", "UNSUBSCRIBE".
	Method string
	// URL is the request URL.
	URL string
	// StatusCode is the HTTP status code.
	StatusCode int
}

// Error returns "upnp: GET <url>: HTTP 404 Not Found".
func (e *StatusError) Error() string {
	return fmt.Sprintf("upnp: %s %s: HTTP %d %s", e.Method, e.URL, e.StatusCode, http.StatusText(e.StatusCode))
}

// Is makes a 412 Precondition Failed reply to a GENA renewal match
// ErrSubscriptionGone.
func (e *StatusError) Is(target error) bool {
	return target == ErrSubscriptionGone && e.StatusCode == http.StatusPreconditionFailed
}

// fetchDescription GETs u and returns at most maxDescriptionSize bytes of
// body; a longer body is an error, not truncated XML.
func fetchDescription(ctx context.Context, hc *http.Client, u *url.URL) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("upnp: fetching description: %w", err)
	}
	req.Header.Set("Accept", "text/xml, application/xml")
	req.Header.Set("User-Agent", "portmap UPnP/1.1")
	resp, err := gatewayClient(hc).Do(req)
	if err != nil {
		return nil, fmt.Errorf("upnp: fetching description: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, &StatusError{Method: http.MethodGet, URL: u.Redacted(), StatusCode: resp.StatusCode}
	}
	if resp.ContentLength > maxDescriptionSize {
		return nil, fmt.Errorf("%w: Content-Length %d", ErrDescriptionTooLarge, resp.ContentLength)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxDescriptionSize+1))
	if err != nil {
		return nil, fmt.Errorf("upnp: reading description from %s: %w", u.Redacted(), err)
	}
	if len(b) > maxDescriptionSize {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrDescriptionTooLarge, maxDescriptionSize)
	}
	return b, nil
}
