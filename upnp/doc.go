// Package upnp is a UPnP Internet Gateway Device (IGD v1 and v2) client:
// SSDP search, device description, SOAP control of WANIPConnection,
// WANPPPConnection and WANIPv6FirewallControl, and GENA events.
//
// It does not import the root portmap package and can be used on its own.
package upnp
