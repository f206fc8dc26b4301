package main

import (
	"context"
	"errors"
	"strings"

	"github.com/portmap-dev/portmap"
	"github.com/portmap-dev/portmap/natpmp"
	"github.com/portmap-dev/portmap/pcp"
	"github.com/portmap-dev/portmap/upnp"
)

// errorLine renders an error as the one line the user sees: what failed,
// with the protocol's own code and name where there is one, then what to do.
func errorLine(err error) string {
	msg := strings.Join(strings.Fields(err.Error()), " ") // one line, whatever the router sent
	msg = strings.TrimPrefix(msg, "portmap: ")
	line := "portmap: " + sanitize(msg)
	if hint := hintFor(err); hint != "" {
		line += "; " + hint
	}
	return line
}

// cobraHint is added to cobra's own complaints about the command line.
const cobraHint = "see 'portmap --help'"

// hintFor says what the user can do about err, or "".
func hintFor(err error) string {
	var (
		ue    *usageError
		soap  *upnp.SOAPError
		pmpE  *natpmp.ResultError
		pcpE  *pcp.ResultError
		noGW  *portmap.NoGatewayError
		noSup *portmap.NotSupportedError
	)
	var ce *cmdError
	switch {
	case errors.As(err, &ue):
		return ""
	case !errors.As(err, &ce):
		return cobraHint
	case errors.As(err, &noGW):
		return "check that UPnP or NAT-PMP/PCP is enabled on the router, or name it with --gateway"
	case errors.Is(err, context.DeadlineExceeded):
		return "the gateway did not answer in time: raise --timeout or name it with --gateway"
	case errors.As(err, &noSup):
		return "try another protocol with --via (upnp lists mappings; upnp or pcp open IPv6 pinholes)"
	case errors.As(err, &soap) && strings.Contains(soap.Action, "Pinhole"):
		switch upnp.ErrorCode(soap.Code) {
		case upnp.ErrActionNotAuthorized:
			return "the router accepts pinhole requests only from the pinhole's own IPv6 address: run portmap on that host"
		case upnp.ErrInvalidArgs:
			return "miniupnpd says this for an unknown pinhole ID: see 'portmap pinhole list'"
		}
	case errors.As(err, &soap):
		switch upnp.ErrorCode(soap.Code) {
		case upnp.ErrConflictInMappingEntry:
			return "try another port or omit EXT"
		case upnp.ErrActionNotAuthorized:
			return "the router refuses this host: allow UPnP port forwarding for it in the router's settings"
		case upnp.ErrNoSuchEntryInArray, upnp.ErrPortMappingNotFound:
			return "see 'portmap list' for the existing mappings"
		case upnp.ErrNoPortMapsAvailable:
			return "the router's table is full: delete mappings you no longer need"
		}
	case errors.As(err, &pmpE):
		switch pmpE.Code {
		case natpmp.ResultNotAuthorized:
			return "the router refuses port mapping: enable NAT-PMP in its settings"
		case natpmp.ResultNetworkFailure:
			return "the router has no working internet link yet: try again later"
		case natpmp.ResultOutOfResources:
			return "the router's table is full: delete mappings you no longer need"
		}
	case errors.As(err, &pcpE):
		switch pcpE.Code {
		case pcp.NotAuthorized:
			return "the router refuses port mapping: enable PCP in its settings, or try --via upnp"
		case pcp.CannotProvideExternal:
			return "try another port or omit EXT"
		case pcp.AddressMismatch:
			return "there is another NAT between you and the PCP server"
		case pcp.NetworkFailure, pcp.NoResources, pcp.UserExQuota:
			return "try again later"
		}
	}
	return ""
}
