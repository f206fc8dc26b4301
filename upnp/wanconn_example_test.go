package upnp_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/portmap-dev/portmap/upnp"
)

// fakeIGD answers like an IGDv1 router that only accepts permanent
// leases (725 OnlyPermanentLeasesSupported otherwise).
func fakeIGD() *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<16))
		const env = `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>%s</s:Body></s:Envelope>`
		switch {
		case strings.Contains(r.Header.Get("SOAPAction"), "#GetExternalIPAddress"):
			fmt.Fprintf(w, env, `<u:GetExternalIPAddressResponse xmlns:u="urn:schemas-upnp-org:service:WANIPConnection:1"><NewExternalIPAddress>203.0.113.7</NewExternalIPAddress></u:GetExternalIPAddressResponse>`)
		case strings.Contains(string(body), "<NewLeaseDuration>0</NewLeaseDuration>"):
			fmt.Fprintf(w, env, `<u:AddPortMappingResponse xmlns:u="urn:schemas-upnp-org:service:WANIPConnection:1"/>`)
		default:
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprintf(w, env, `<s:Fault><faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring><detail><UPnPError xmlns="urn:schemas-upnp-org:control-1-0"><errorCode>725</errorCode><errorDescription>OnlyPermanentLeasesSupported</errorDescription></UPnPError></detail></s:Fault>`)
		}
	}))
}

func ExampleWANConnection_AddPortMappingWithFallbacks() {
	srv := fakeIGD() // a loopback stand-in for a router
	defer srv.Close()
	ctl, _ := url.Parse(srv.URL + "/ctl/IPConn")
	// Usually the Service comes from Discover: igd.WAN is ready to use.
	wan := upnp.NewWANConnection(upnp.Service{Type: "urn:schemas-upnp-org:service:WANIPConnection:1", ControlURL: ctl}, nil)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ip, err := wan.GetExternalIPAddress(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := wan.AddPortMappingWithFallbacks(ctx, upnp.PortMapping{
		ExternalPort:   8080,
		Protocol:       "TCP",
		InternalPort:   8080,
		InternalClient: netip.MustParseAddr("192.168.1.20"),
		Enabled:        true,
		Description:    "my server",
		LeaseDuration:  time.Hour,
	}, upnp.AddOptions{AnyPortOnConflict: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s:%d -> 192.168.1.20:8080, permanent=%v\n", ip, res.ExternalPort, res.Permanent)
	// Output: 203.0.113.7:8080 -> 192.168.1.20:8080, permanent=true
}

func ExampleErrorCode() {
	var err error = &upnp.SOAPError{Code: 718, Action: "AddPortMapping"}
	fmt.Println(err)
	fmt.Println(errors.Is(err, upnp.ErrConflictInMappingEntry))
	// Output:
	// upnp: AddPortMapping refused: 718 ConflictInMappingEntry
	// true
}
