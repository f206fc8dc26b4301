package upnp

import "net/url"

// Service is one UPnP service found in a device description, with its URLs
// already resolved against the description's URLBase or location.
type Service struct {
	// Type is the full service type URN, such as
	// "urn:schemas-upnp-org:service:WANIPConnection:2".
	Type string
	// ID is the serviceId from the description.
	ID string
	// ControlURL receives SOAP actions.
	ControlURL *url.URL
	// EventSubURL receives GENA SUBSCRIBE requests.
	EventSubURL *url.URL
	// SCPDURL is the service description.
	SCPDURL *url.URL
}
